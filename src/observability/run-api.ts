/**
 * What a running `inlet run` serves while it holds the destination (DuckDB lets one process open
 * the file for writing, so others cannot read it meanwhile):
 *  - a local HTTP API on a Unix socket beside the file (mode 0600: only its owner may connect),
 *    for `inlet status` (GET /status) and `inlet query` (POST /query, read-only SQL);
 *  - with `--metrics-port`, Prometheus metrics (GET /metrics) and GET /healthz on TCP. That port
 *    serves no data and no SQL, so it may be opened to a scraper.
 */
import { createHash } from 'node:crypto'
import { existsSync, lstatSync, mkdirSync, chmodSync, rmSync } from 'node:fs'
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { tmpdir, userInfo } from 'node:os'
import { basename, dirname, join, resolve } from 'node:path'
import type { ResolvedConfig } from '../config/load.js'
import type { Destination, QueryReader } from '../destination/destination.js'
import { InletError } from '../errors/inlet-error.js'
import type { Logger } from './log.js'
import { renderMetrics } from './metrics.js'
import type { RunMonitor } from './run-monitor.js'
import { buildStatus } from './status-report.js'

/** Rows a query returns at most through the API (the CLI asks for fewer by default). */
const MAX_QUERY_ROWS = 100_000

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

export interface ServeOptions {
  readonly metrics?: { readonly host: string; readonly port: number } | undefined
  readonly log: Logger
}

export async function serveRun(config: ResolvedConfig, destination: Destination, monitor: RunMonitor, options: ServeOptions): Promise<{ close(): Promise<void> }> {
  // Reads go through connections of their own, one at a time, beside the batches.
  const state = await destination.openWriter()
  const reader = await destination.openReader()
  let queue: Promise<unknown> = Promise.resolve()
  const serial = <T>(work: () => Promise<T>): Promise<T> => {
    const next = queue.then(work, work)
    queue = next.catch(() => undefined)
    return next
  }
  const path = controlSocketPath(destination.localPath)
  const api = createServer((req, res) => {
    void handleApi(req, res, { config, state, reader, monitor, serial }).catch((error: unknown) => sendError(res, error))
  })
  let serving = false
  try {
    prepareSocketDirectory(dirname(path), path !== join(dirname(resolve(destination.localPath)), basename(path)))
    // The run holds the file's lock, so a socket left here is a dead run's.
    if (existsSync(path)) rmSync(path, { force: true })
    // Created 0600 (no moment at the umask's mode): only the owner may connect.
    const umask = process.umask(0o177)
    try {
      await listen(api, () => api.listen(path))
    } finally {
      process.umask(umask)
    }
    chmodSync(path, 0o600)
    serving = true
  } catch (cause) {
    // The run does not depend on it (a filesystem without sockets, say): status and query wait.
    options.log.warn('api.unavailable', `inlet status and inlet query cannot reach this run (no socket at ${path}: ${(cause as Error).message}); they will report the file as held.`, { path })
  }
  let metrics: Server | undefined
  if (options.metrics !== undefined) {
    const { host, port } = options.metrics
    metrics = createServer((req, res) => {
      if (req.method === 'GET' && req.url === '/metrics') return send(res, 200, renderMetrics(monitor), 'text/plain; version=0.0.4; charset=utf-8')
      if (req.method === 'GET' && req.url === '/healthz') return send(res, monitor.healthy ? 200 : 503, monitor.healthy ? 'ok\n' : `${[...monitor.sources.values()].map((s) => `${s.name}: ${s.phase}`).join('\n')}\n`, 'text/plain; charset=utf-8')
      send(res, 404, 'GET /metrics or /healthz\n', 'text/plain; charset=utf-8')
    })
    try {
      await listen(metrics, () => metrics?.listen(port, host))
    } catch (cause) {
      if (serving) api.close()
      await reader.close()
      await state.close()
      throw new InletError('INLET-C004', `The metrics port ${host}:${port} cannot be opened: ${(cause as Error).message}.`, { cause, fix: 'Choose a free port: --metrics-port PORT (or HOST:PORT).' })
    }
    options.log.info('metrics.listen', `Prometheus metrics on http://${host}:${port}/metrics (health: /healthz).`, { host, port })
  }
  return {
    close: async () => {
      // Requests in flight are cut: the run is stopping.
      const closing = [serving ? new Promise<void>((r) => api.close(() => r())) : undefined, metrics === undefined ? undefined : new Promise<void>((r) => metrics?.close(() => r()))]
      api.closeAllConnections()
      metrics?.closeAllConnections()
      reader.interrupt()
      await Promise.all(closing)
      if (serving) rmSync(path, { force: true })
      await serial(() => reader.close())
      await serial(() => state.close())
    },
  }
}

/**
 * The socket's directory: beside the file (the user's own), or the private fallback under the temp
 * directory, which must be this user's and closed to others (else another user could answer).
 */
function prepareSocketDirectory(dir: string, shared: boolean): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  if (!shared) return
  const stat = lstatSync(dir)
  if (!stat.isDirectory() || stat.uid !== userInfo().uid || (stat.mode & 0o077) !== 0) {
    throw new Error(`${dir} is not a directory of this user closed to others`)
  }
}

interface ApiContext {
  readonly config: ResolvedConfig
  /** A connection of its own for status reads. */
  readonly state: Destination
  readonly reader: QueryReader
  readonly monitor: RunMonitor
  readonly serial: <T>(work: () => Promise<T>) => Promise<T>
}

async function handleApi(req: IncomingMessage, res: ServerResponse, ctx: ApiContext): Promise<void> {
  if (req.method === 'GET' && req.url === '/status') {
    const report = await ctx.serial(() => buildStatus(ctx.config, ctx.state, ctx.monitor))
    return send(res, 200, JSON.stringify(report), 'application/json')
  }
  if (req.method === 'POST' && req.url === '/query') {
    const body = JSON.parse(await readBody(req)) as { sql?: unknown; limit?: unknown }
    if (typeof body.sql !== 'string') return send(res, 400, JSON.stringify({ error: { code: 'INLET-D005', message: 'The request has no sql.' } }), 'application/json')
    const limit = Math.min(MAX_QUERY_ROWS, Math.max(1, Number(body.limit ?? 1000) || 1000))
    const result = await ctx.serial(() => ctx.reader.query(body.sql as string, limit))
    return send(res, 200, JSON.stringify(result), 'application/json')
  }
  if (req.method === 'POST' && req.url === '/refresh') {
    // [{source, schema, table}]: names already resolved by the caller against this run's tables.
    const body = JSON.parse(await readBody(req)) as { tables?: Array<{ source?: string; schema?: string; table?: string }> }
    const accepted: string[] = []
    for (const t of body.tables ?? []) {
      const live = t.source === undefined ? undefined : ctx.monitor.sources.get(t.source)
      if (live === undefined || typeof t.schema !== 'string' || typeof t.table !== 'string') continue
      live.refreshRequests.push([t.schema, t.table])
      accepted.push(`${t.source}:${t.schema}.${t.table}`)
    }
    return send(res, 200, JSON.stringify({ accepted }), 'application/json')
  }
  send(res, 404, JSON.stringify({ error: { code: 'INLET-C004', message: 'GET /status, POST /query or POST /refresh' } }), 'application/json')
}

function sendError(res: ServerResponse, error: unknown): void {
  const body = error instanceof InletError ? { code: error.code, message: error.message, fix: error.fix } : { code: 'INLET-X001', message: error instanceof Error ? error.message : String(error) }
  send(res, error instanceof InletError ? 400 : 500, JSON.stringify({ error: body }), 'application/json')
}

function send(res: ServerResponse, status: number, body: string, type: string): void {
  if (res.headersSent) return void res.end()
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' })
  res.end(body)
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolveBody, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (c: Buffer) => {
      size += c.length
      if (size > 1024 * 1024) req.destroy(new Error('request body over 1 MB'))
      else chunks.push(c)
    })
    req.on('end', () => resolveBody(Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })
}

function listen(server: Server, start: () => void): Promise<void> {
  return new Promise((resolveListen, reject) => {
    server.once('error', reject)
    server.once('listening', () => {
      server.off('error', reject)
      resolveListen()
    })
    start()
  })
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
