/**
 * How other processes reach the `inlet run` that holds a destination: its local HTTP API on a Unix
 * socket beside the file (see run-api.ts), used by inlet status, query, refresh and ui.
 */
import { createHash } from 'node:crypto'
import { existsSync, lstatSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir, userInfo } from 'node:os'
import { basename, dirname, join, resolve } from 'node:path'
import { InletError } from '../errors/inlet-error.js'

/**
 * The socket of the run that holds `destinationPath`: beside the file, or (when that path would
 * pass the 107-byte limit of socket paths) in a private directory under the temp directory.
 */
export function controlSocketPath(destinationPath: string): string {
  const full = resolve(destinationPath)
  const beside = join(dirname(full), `.${basename(full)}.inlet.sock`)
  if (Buffer.byteLength(beside) <= 100) return beside
  const dir = join(tmpdir(), `inlet-${userInfo().uid}`)
  return join(dir, `${createHash('sha256').update(full).digest('hex').slice(0, 24)}.sock`)
}

/**
 * Asks the run holding `destinationPath`: the answer, or undefined when no run listens there
 * (no socket, or a socket nobody accepts on). A run that accepts but fails is INLET-D006, and an
 * error the run reports (a refused query) comes back as that InletError.
 */
export async function askRun<T>(destinationPath: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<T | undefined> {
  const socketPath = controlSocketPath(destinationPath)
  if (!existsSync(socketPath)) return undefined
  const owner = lstatSync(socketPath).uid
  if (owner !== userInfo().uid && userInfo().uid !== 0) {
    throw new InletError('INLET-D006', `The socket ${socketPath} belongs to another user (uid ${owner}); Inlet does not talk to it.`, { fix: 'Run inlet status / inlet query as the user that runs inlet run.' })
  }
  return new Promise<T | undefined>((resolveAsk, reject) => {
    const req = request({ socketPath, method, path, headers: { 'content-type': 'application/json' }, timeout: 60_000 }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        let parsed: unknown
        try {
          parsed = JSON.parse(text)
        } catch {
          return reject(new InletError('INLET-D006', `The running inlet run answered ${method} ${path} with something unexpected (HTTP ${res.statusCode ?? '?'}).`))
        }
        const error = (parsed as { error?: { code?: string; message?: string; fix?: string } }).error
        if (error !== undefined) return reject(new InletError((error.code ?? 'INLET-X001') as 'INLET-X001', error.message ?? 'The running inlet run reported an error.', error.fix === undefined ? {} : { fix: error.fix }))
        resolveAsk(parsed as T)
      })
    })
    req.on('timeout', () => req.destroy(new Error('no answer within 60 s')))
    req.on('error', (cause: NodeJS.ErrnoException) => {
      // A socket file nobody listens on: the run that made it died without removing it.
      if (cause.code === 'ECONNREFUSED' || cause.code === 'ENOENT') return resolveAsk(undefined)
      reject(new InletError('INLET-D006', `The running inlet run did not answer: ${cause.message}.`, { cause, fix: 'Try again in a moment; if it persists, stop that inlet run (Ctrl-C or SIGTERM) and read the file directly.' }))
    })
    if (body !== undefined) req.write(JSON.stringify(body))
    req.end()
  })
}
