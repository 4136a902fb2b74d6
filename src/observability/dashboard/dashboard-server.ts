/**
 * The dashboard's HTTP server (`inlet run --ui`, `inlet ui`): the page and its assets, a JSON API,
 * and live updates as server-sent events. Bound to loopback unless told otherwise.
 *
 * Guarded by a random access token printed at start: the URL `/?token=T` sets it as an HttpOnly,
 * SameSite=Strict cookie, and every request (page, assets, API) needs that cookie or an
 * `Authorization: Bearer T` header. Changing requests (refresh, and query, which runs SQL) are
 * POSTs that must also come from the page itself: same Origin and the token echoed in a header
 * the page reads from its own HTML. The Host header must name this server (a DNS-rebinding page
 * cannot borrow the browser's cookie). Nothing is loaded from elsewhere (a strict CSP).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { InletError } from '../../errors/inlet-error.js'
import type { Logger } from '../log.js'
import type { Sample } from '../live-history.js'
import type { DashboardData, Overview } from './dashboard-data.js'
import { readBody } from '../http-body.js'

export interface Listen {
  readonly host: string
  readonly port: number
}

export interface DashboardOptions extends Listen {
  readonly data: DashboardData
  readonly log: Logger
  /** Given by tests; otherwise random. */
  readonly token?: string
}

/** Rows a query from the page returns at most (the page shows them 50 at a time). */
const MAX_UI_ROWS = 10_000
/** Milliseconds between live updates. */
const TICK_MS = 1000
/** An SSE client this far behind (a stalled tab) is dropped; it reconnects and starts afresh. */
const MAX_BACKLOG = 1024 * 1024

// dist/src/observability/dashboard/ → the package root, which holds web/ and dist/web/.
const ROOT = fileURLToPath(new URL('../../../../', import.meta.url))
const require = createRequire(import.meta.url)

const ASSETS: Record<string, { file: () => string; type: string }> = {
  '/assets/app.js': { file: () => `${ROOT}dist/web/app.js`, type: 'text/javascript; charset=utf-8' },
  '/assets/views.js': { file: () => `${ROOT}dist/web/views.js`, type: 'text/javascript; charset=utf-8' },
  '/assets/charts.js': { file: () => `${ROOT}dist/web/charts.js`, type: 'text/javascript; charset=utf-8' },
  '/assets/style.css': { file: () => `${ROOT}web/style.css`, type: 'text/css; charset=utf-8' },
  '/assets/uplot.js': { file: () => require.resolve('uplot/dist/uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' },
  '/assets/uplot.css': { file: () => require.resolve('uplot/dist/uPlot.min.css'), type: 'text/css; charset=utf-8' },
}

const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
}

export async function serveDashboard(options: DashboardOptions): Promise<{ url: string; close(): Promise<void> }> {
  const token = options.token ?? randomBytes(24).toString('base64url')
  const assets = new Map<string, Buffer>()
  const asset = (path: string): Buffer | undefined => {
    const spec = ASSETS[path]
    if (spec === undefined) return undefined
    let body = assets.get(path)
    if (body === undefined) assets.set(path, (body = readFileSync(spec.file())))
    return body
  }
  // Per open page: the last sample it has of each source (later ticks send only newer ones).
  const clients = new Map<ServerResponse, Map<string, number>>()
  let port = options.port
  // Per port, as Jupyter does: browsers send a host's cookies to all its ports.
  let cookie = `inlet_ui_${port}`
  const server = createServer((req, res) => {
    void handle(req, res).catch((error: unknown) => sendError(res, error))
  })

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://dashboard')
    if (!hostAllowed(req.headers.host, options.host, port)) return sendText(res, 421, 'This dashboard answers only to the address it printed.\n')
    if (req.method === 'GET' && url.pathname === '/' && url.searchParams.has('token')) {
      if (!same(url.searchParams.get('token') ?? '', token)) return sendPage(res, 401, refusedPage('The access token in this address is wrong.'))
      // Into a cookie, and out of the address bar and the history.
      res.writeHead(303, { ...SECURITY_HEADERS, location: '/', 'set-cookie': `${cookie}=${token}; HttpOnly; SameSite=Strict; Path=/` })
      return void res.end()
    }
    if (!authorized(req, token, cookie)) {
      if (url.pathname.startsWith('/api/')) return sendJson(res, 401, { error: { code: 'INLET-C004', message: 'A valid access token is needed.', fix: 'Open the address inlet printed at start (it ends with ?token=...).' } })
      return sendPage(res, 401, refusedPage('This page needs the access token.'))
    }
    if (req.method === 'GET' && url.pathname === '/') return sendPage(res, 200, indexPage(token))
    const body = req.method === 'GET' ? asset(url.pathname) : undefined
    if (body !== undefined) {
      res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': ASSETS[url.pathname]?.type ?? 'application/octet-stream' })
      return void res.end(body)
    }
    if (req.method === 'GET' && url.pathname === '/api/overview') return sendJson(res, 200, await options.data.overview())
    if (req.method === 'GET' && url.pathname === '/api/events') return openEvents(res)
    if (req.method === 'GET' && url.pathname === '/api/table') {
      const detail = await options.data.table(url.searchParams.get('source') ?? '', url.searchParams.get('table') ?? '')
      return detail === undefined ? sendJson(res, 404, { error: { code: 'INLET-C004', message: 'No such table in the destination.' } }) : sendJson(res, 200, detail)
    }
    if (req.method === 'GET' && url.pathname === '/api/doctor') return sendJson(res, 200, { report: (await options.data.doctor()) ?? null })
    if (req.method === 'POST' && (url.pathname === '/api/query' || url.pathname === '/api/refresh')) {
      if (!fromThePage(req, token, port)) return sendJson(res, 403, { error: { code: 'INLET-C004', message: 'Changing requests must come from the dashboard page itself.' } })
      const parsed = JSON.parse(await readBody(req, 256 * 1024)) as unknown
      const input = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as { sql?: unknown; limit?: unknown; source?: unknown; table?: unknown }
      if (url.pathname === '/api/query') {
        if (typeof input.sql !== 'string' || input.sql.trim() === '') return sendJson(res, 400, { error: { code: 'INLET-D005', message: 'Type a SELECT to run.' } })
        const limit = Math.min(MAX_UI_ROWS, Math.max(1, Number(input.limit ?? 1000) || 1000))
        // A refused or failing statement is the answer to the query, shown where its rows would be.
        return sendJson(res, 200, await options.data.query(input.sql, limit).catch(errorBody))
      }
      if (typeof input.source !== 'string' || typeof input.table !== 'string') return sendJson(res, 400, { error: { code: 'INLET-C004', message: 'A refresh names a source and a table.' } })
      await options.data.refresh(input.source, input.table)
      options.log.info('ui.refresh', `Dashboard asked for a refresh of ${input.source}:${input.table}.`, { source: input.source, table: input.table })
      return sendJson(res, 200, { accepted: true })
    }
    sendJson(res, 404, { error: { code: 'INLET-C004', message: 'Not a page or API of the dashboard.' } })
  }

  function openEvents(res: ServerResponse): void {
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream; charset=utf-8', connection: 'keep-alive' })
    res.write('retry: 1000\n\n')
    clients.set(res, new Map())
    res.on('close', () => clients.delete(res))
    void tick()
  }

  // One overview per tick for every page open; none while no page is.
  let ticking = false
  async function tick(): Promise<void> {
    if (ticking || clients.size === 0) return
    ticking = true
    let overview: Overview | undefined
    let failure: string | undefined
    try {
      overview = await options.data.overview()
    } catch (error) {
      failure = `event: failure\ndata: ${JSON.stringify(errorBody(error))}\n\n`
    } finally {
      ticking = false
    }
    for (const [client, sent] of clients) {
      if (client.writableLength > MAX_BACKLOG) {
        client.destroy()
        continue
      }
      if (overview === undefined) {
        client.write(failure ?? '')
        continue
      }
      // The whole history once, then only the samples the page does not have.
      const append = sent.size > 0
      const history: Record<string, readonly Sample[]> = {}
      for (const [source, samples] of Object.entries(overview.history)) {
        const after = sent.get(source) ?? -1
        history[source] = samples.filter((x) => x.at > after)
        const last = samples.at(-1)
        if (last !== undefined) sent.set(source, last.at)
      }
      client.write(`event: overview\ndata: ${JSON.stringify({ ...overview, history, append })}\n\n`)
    }
  }
  const timer = setInterval(() => void tick(), TICK_MS)
  timer.unref()

  await new Promise<void>((resolveListen, reject) => {
    server.once('error', (cause: Error) => reject(new InletError('INLET-C004', `The dashboard cannot listen on ${options.host}:${options.port}: ${cause.message}.`, { cause, fix: 'Choose a free port: --ui PORT (or HOST:PORT).' })))
    server.listen(options.port, options.host, () => resolveListen())
  })
  port = (server.address() as AddressInfo).port
  cookie = `inlet_ui_${port}`
  const host = options.host.includes(':') ? `[${options.host}]` : options.host
  const url = `http://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${port}/?token=${token}`
  // The token is printed once, on standard output (logs, which may be shipped, never carry it).
  options.log.info('ui.listen', `Dashboard on http://${host}:${port}/ (its address with the access token is on standard output).`, { host: options.host, port })
  process.stdout.write(`Dashboard: ${url}\n`)
  return {
    url,
    close: async () => {
      clearInterval(timer)
      for (const client of clients.keys()) client.end()
      server.closeAllConnections()
      await new Promise<void>((r) => server.close(() => r()))
    },
  }
}

function same(given: string, token: string): boolean {
  const a = Buffer.from(given)
  const b = Buffer.from(token)
  return a.length === b.length && timingSafeEqual(a, b)
}

function authorized(req: IncomingMessage, token: string, cookie: string): boolean {
  const bearer = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1]
  if (bearer !== undefined) return same(bearer, token)
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [name, value] = part.trim().split('=', 2)
    if (name === cookie && value !== undefined && same(value, token)) return true
  }
  return false
}

/** Same origin (the browser says so) and the token the page echoes from its HTML. */
function fromThePage(req: IncomingMessage, token: string, port: number): boolean {
  const origin = req.headers.origin
  const echoed = req.headers['x-inlet-token']
  if (origin === undefined || typeof echoed !== 'string' || !same(echoed, token)) return false
  try {
    const parsed = new URL(origin)
    return parsed.host === req.headers.host && Number(parsed.port || 80) === port && (req.headers['sec-fetch-site'] ?? 'same-origin') === 'same-origin'
  } catch {
    return false
  }
}

/** Loopback names, or the address it listens on; any name when it listens on every address. */
function hostAllowed(header: string | undefined, bound: string, port: number): boolean {
  if (header === undefined) return false
  if (bound === '0.0.0.0' || bound === '::') return true
  const allowed = new Set([`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, `${bound.includes(':') ? `[${bound}]` : bound}:${port}`])
  return allowed.has(header.toLowerCase())
}

function indexPage(token: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="inlet-token" content="${token}">
<title>Inlet</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/uplot.css">
<link rel="stylesheet" href="/assets/style.css">
<script src="/assets/uplot.js" defer></script>
<script type="module" src="/assets/app.js"></script>
</head>
<body>
<header class="top"><a class="brand" href="#/">Inlet</a>
<nav aria-label="Pages"><a href="#/">Overview</a><a href="#/tables">Tables</a><a href="#/doctor">Doctor</a><a href="#/query">Query</a></nav>
<span id="live" class="live" role="status" aria-live="polite">connecting…</span></header>
<main id="main" tabindex="-1"><p class="muted">Loading…</p></main>
</body>
</html>
`
}

function refusedPage(reason: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Inlet: access token needed</title></head><body><h1>Inlet dashboard</h1><p>${reason}</p><p>Open the address that <code>inlet run --ui</code> or <code>inlet ui</code> printed when it started; it ends with <code>?token=</code>.</p></body></html>\n`
}

function errorBody(error: unknown): { error: { code: string; message: string; fix?: string } } {
  if (error instanceof InletError) return { error: { code: error.code, message: error.message, ...(error.fix === undefined ? {} : { fix: error.fix }) } }
  return { error: { code: 'INLET-X001', message: error instanceof Error ? error.message : String(error) } }
}

function sendError(res: ServerResponse, error: unknown): void {
  sendJson(res, error instanceof InletError ? 400 : error instanceof SyntaxError ? 400 : 500, errorBody(error))
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return void res.end()
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'application/json; charset=utf-8' })
  res.end(JSON.stringify(body))
}

function sendPage(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'text/html; charset=utf-8' })
  res.end(html)
}

function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'text/plain; charset=utf-8' })
  res.end(text)
}
