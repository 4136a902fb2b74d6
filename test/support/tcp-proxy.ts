/**
 * A TCP proxy in front of a test server that can fail the way networks do: `cut()` drops every
 * client connection while the server's side stays open and unread, as when a client machine
 * resets or a NAT forgets the connection. The server learns of it only by its own timeouts
 * (a walsender: wal_sender_timeout), holding what the connection held until then.
 */
import { createServer, connect, type Server, type Socket } from 'node:net'

export interface TcpProxy {
  readonly port: number
  /** Drops the client sides; the server sides are left open, paused, never ended. */
  cut(): void
  close(): Promise<void>
}

export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const pairs = new Set<{ client: Socket; upstream: Socket }>()
  const orphans: Socket[] = []
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, targetHost)
    const pair = { client, upstream }
    pairs.add(pair)
    client.pipe(upstream)
    upstream.pipe(client)
    const drop = () => pairs.delete(pair)
    client.on('error', drop).on('close', drop)
    upstream.on('error', () => client.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('proxy has no port')
  return {
    port: address.port,
    cut() {
      for (const pair of [...pairs]) {
        pair.upstream.unpipe(pair.client)
        pair.client.unpipe(pair.upstream)
        pair.upstream.pause()
        orphans.push(pair.upstream)
        pair.client.destroy()
        pairs.delete(pair)
      }
    },
    async close() {
      for (const pair of pairs) (pair.client.destroy(), pair.upstream.destroy())
      for (const socket of orphans) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
