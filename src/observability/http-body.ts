/** The body of a request to Inlet's local HTTP servers (run API, dashboard), refused past `maxBytes`. */
import type { IncomingMessage } from 'node:http'

export function readBody(req: IncomingMessage, maxBytes: number): Promise<string> {
  return new Promise((resolveBody, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (c: Buffer) => {
      size += c.length
      if (size > maxBytes) req.destroy(new Error(`request body over ${Math.round(maxBytes / 1024)} kB`))
      else chunks.push(c)
    })
    req.on('end', () => resolveBody(Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })
}
