/**
 * What a running `inlet run` serves while it holds the destination (DuckDB lets one process open
 * the file for writing, so others cannot read it meanwhile):
 *  - a local HTTP API on a Unix socket beside the file (mode 0600: only its owner may connect),
 *    for `inlet status` (GET /status) and `inlet query` (POST /query, read-only SQL);
 *    and `inlet ui` (GET /history, GET /table, POST /refresh);
 *  - with `--metrics-port`, Prometheus metrics (GET /metrics) and GET /healthz on TCP. That port
 *    serves no data and no SQL, so it may be opened to a scraper;
 *  - with `--ui`, the dashboard (dashboard/dashboard-server.ts), guarded by its access token.
 */
import { existsSync, lstatSync, mkdirSync, chmodSync, rmSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { userInfo } from 'node:os'
import { basename, dirname, join, resolve } from 'node:path'
import type { ResolvedConfig } from '../config/load.js'
import type { Destination } from '../destination/destination.js'
import { InletError } from '../errors/inlet-error.js'
import { displayName } from '../postgres/sql-text.js'
import { runData } from './dashboard/dashboard-data.js'
import { serveDashboard, type Listen } from './dashboard/dashboard-server.js'
import { LiveHistory } from './live-history.js'
import type { Logger } from './log.js'
import { renderMetrics } from './metrics.js'
import { controlSocketPath } from './run-client.js'
import type { RunMonitor } from './run-monitor.js'
import { readBody } from './http-body.js'

/** Rows a query returns at most through the API (the CLI asks for fewer by default). */
const MAX_QUERY_ROWS = 100_000

export interface ServeOptions {
  readonly metrics?: Listen | undefined
  /** `--ui`: where the dashboard listens. */
  readonly ui?: Listen | undefined
  /** Told the dashboard's address (with its token) once it listens. */
  readonly onUi?: ((url: string) => void) | undefined
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
  const history = new LiveHistory()
  const sampler = setInterval(() => history.sampleMonitor(monitor), 1000)
  sampler.unref()
  const data = runData({ config, state, reader, monitor, history, serial })
  const path = controlSocketPath(destination.localPath)
  const api = createServer((req, res) => {
    void handleApi(req, res, data, history).catch((error: unknown) => sendError(res, error))
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
      await undo()
      throw new InletError('INLET-C004', `The metrics port ${host}:${port} cannot be opened: ${(cause as Error).message}.`, { cause, fix: 'Choose a free port: --metrics-port PORT (or HOST:PORT).' })
    }
    options.log.info('metrics.listen', `Prometheus metrics on http://${host}:${port}/metrics (health: /healthz).`, { host, port })
  }
  let dashboard: { url: string; close(): Promise<void> } | undefined
  if (options.ui !== undefined) {
    try {
      dashboard = await serveDashboard({ ...options.ui, data, log: options.log })
      options.onUi?.(dashboard.url)
    } catch (error) {
      metrics?.close()
      await undo()
      throw error
    }
  }
  async function undo(): Promise<void> {
    clearInterval(sampler)
    if (serving) {
      api.close()
      rmSync(path, { force: true })
    }
    await reader.close()
    await state.close()
  }
  return {
    close: async () => {
      clearInterval(sampler)
      await dashboard?.close()
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

async function handleApi(req: IncomingMessage, res: ServerResponse, data: ReturnType<typeof runData>, history: LiveHistory): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://run')
  if (req.method === 'GET' && url.pathname === '/status') return send(res, 200, JSON.stringify((await data.overview()).status), 'application/json')
  if (req.method === 'GET' && url.pathname === '/history') return send(res, 200, JSON.stringify(history), 'application/json')
  if (req.method === 'GET' && url.pathname === '/table') {
    const table = await data.table(url.searchParams.get('source') ?? '', url.searchParams.get('table') ?? '')
    return send(res, 200, JSON.stringify({ table: table ?? null }), 'application/json')
  }
  if (req.method === 'POST' && url.pathname === '/query') {
    const body = JSON.parse(await readBody(req, 1024 * 1024)) as { sql?: unknown; limit?: unknown }
    if (typeof body.sql !== 'string') return send(res, 400, JSON.stringify({ error: { code: 'INLET-D005', message: 'The request has no sql.' } }), 'application/json')
    const limit = Math.min(MAX_QUERY_ROWS, Math.max(1, Number(body.limit ?? 1000) || 1000))
    return send(res, 200, JSON.stringify(await data.query(body.sql, limit)), 'application/json')
  }
  if (req.method === 'POST' && url.pathname === '/refresh') {
    // [{source, schema, table}] (inlet refresh: names resolved by the caller) or [{source, display}] (inlet ui).
    const body = JSON.parse(await readBody(req, 1024 * 1024)) as { tables?: Array<{ source?: string; schema?: string; table?: string; display?: string }> }
    const entries = (body.tables ?? []).map((t) => ({ source: t.source, table: t.display ?? (typeof t.schema === 'string' && typeof t.table === 'string' ? displayName(t.schema, t.table) : undefined) }))
    return send(res, 200, JSON.stringify({ accepted: await data.refreshNames(entries) }), 'application/json')
  }
  send(res, 404, JSON.stringify({ error: { code: 'INLET-C004', message: 'GET /status, /history, /table; POST /query or /refresh' } }), 'application/json')
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
