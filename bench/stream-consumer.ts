/**
 * One benchmark consumer, run as a child process so its CPU time and peak RSS are its own.
 * argv: kind url slot publication expectedChanges
 *   inlet  Inlet's replication stream + pgoutput decoder, full change events, confirm per commit
 *   raw    framing only: counts changes by tag byte, decodes nothing, reads in batches
 *   pglr   the npm package pg-logical-replication, acknowledging each commit
 * Prints one JSON line: { changes, seconds, cpuSeconds, maxRssMB }.
 */
import type { Socket } from 'node:net'
import { LogicalReplicationService, PgoutputPlugin } from 'pg-logical-replication'
import { connect } from '../src/postgres/connect.js'
import { parseConnectionString } from '../src/postgres/connection-settings.js'
import { BackendFramer, copyDataMessage, simpleQueryMessage } from '../src/protocol/replication/backend-framer.js'
import { encodeStandbyStatusUpdate } from '../src/protocol/replication/copy-data.js'
import { ReplicationConnection } from '../src/source/stream/replication-connection.js'
import { startReplicationCommand } from '../src/source/stream/replication-commands.js'

const [kind, url, slot, publication, expectedText] = process.argv.slice(2) as [string, string, string, string, string]
const expected = Number(expectedText)
const settings = parseConnectionString(url, {})

async function inlet(): Promise<number> {
  const connection = await ReplicationConnection.open(settings)
  const stream = await connection.startStreaming({ slot, publications: [publication], resumeLsn: 0n })
  let changes = 0
  while (changes < expected) {
    const batch = await stream.next()
    if (batch.done === true) break
    for (const event of batch.value) {
      if (event.kind === 'insert' || event.kind === 'update' || event.kind === 'delete') changes++
      else if (event.kind === 'commit') stream.confirm(event.endLsn)
    }
  }
  await stream.close()
  return changes
}

async function raw(): Promise<number> {
  const client = await connect(settings, { replication: 'database' })
  const { rows } = await client.query<{ server_version_num: string }>('SHOW server_version_num')
  const socket = (client as unknown as { connection: { stream: Socket } }).connection.stream
  socket.removeAllListeners('data')
  const framer = new BackendFramer()
  let changes = 0
  let lastCommitEnd = 0n
  let paused = false
  const status = setInterval(() => socket.write(copyDataMessage(encodeStandbyStatusUpdate(lastCommitEnd, Date.now()))), 1000)
  await new Promise<void>((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      framer.push(chunk, (type, payload) => {
        if (type !== 0x64) return
        if (payload[0] === 0x77) {
          const tag = payload[25]
          if (tag === 0x49 || tag === 0x55 || tag === 0x44) changes++
          else if (tag === 0x43) lastCommitEnd = payload.readBigUInt64BE(25 + 1 + 1 + 8)
        } else if (payload[0] === 0x6b && payload[17] === 1) {
          socket.write(copyDataMessage(encodeStandbyStatusUpdate(lastCommitEnd, Date.now())))
        }
      })
      if (changes >= expected) resolve()
      else if (chunk.length < 32 * 1024 && !paused) {
        paused = true
        socket.pause()
        setTimeout(() => {
          paused = false
          socket.resume()
        }, 1)
      }
    })
    socket.write(simpleQueryMessage(startReplicationCommand(Number(rows[0]?.server_version_num), slot, 0n, { publications: [publication] })))
  })
  clearInterval(status)
  socket.destroy()
  return changes
}

async function pglr(): Promise<number> {
  const service = new LogicalReplicationService(
    { host: settings.host, port: settings.port, user: settings.user, password: settings.password, database: settings.database },
    { acknowledge: { auto: false, timeoutSeconds: 0 } },
  )
  let changes = 0
  const done = new Promise<void>((resolve) => {
    service.on('data', async (_lsn: string, log: { tag: string; commitEndLsn?: string }) => {
      if (log.tag === 'insert' || log.tag === 'update' || log.tag === 'delete') changes++
      else if (log.tag === 'commit' && log.commitEndLsn !== undefined) await service.acknowledge(log.commitEndLsn)
      if (changes >= expected) resolve()
    })
  })
  service.subscribe(new PgoutputPlugin({ protoVersion: 1, publicationNames: [publication] }), slot).catch(() => undefined)
  await done
  await service.stop()
  return changes
}

const started = process.hrtime.bigint()
const changes = kind === 'inlet' ? await inlet() : kind === 'raw' ? await raw() : await pglr()
const seconds = Number(process.hrtime.bigint() - started) / 1e9
const usage = process.resourceUsage()
console.log(JSON.stringify({ changes, seconds, cpuSeconds: (usage.userCPUTime + usage.systemCPUTime) / 1e6, maxRssMB: Math.round(usage.maxRSS / 1024) }))
process.exit(0)
