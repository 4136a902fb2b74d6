/**
 * The dashboard page: a hash router over five views, live overview updates from server-sent
 * events, and the two changing actions (query, refresh), sent as same-origin POSTs carrying the
 * token the server wrote into the page.
 */
import { SourceCharts } from './charts.js'
import { doctorPage, errorBox, overviewPage, QUERY_FORM, queryResult, tablePage, tablesPage, type RefreshNote } from './views.js'
import type { ApiError, DoctorReport, Overview, QueryResult, TableDetail } from './types.js'

const main = document.getElementById('main') as HTMLElement
const live = document.getElementById('live') as HTMLElement
const token = document.querySelector<HTMLMetaElement>('meta[name="inlet-token"]')?.content ?? ''

let overview: Overview | undefined
let detail: TableDetail | undefined
let result: QueryResult | undefined
let resultPage = 0
/** After a click on refresh: its note, and whether the copy was seen running. */
let refreshNote: (RefreshNote & { seenRunning: boolean }) | undefined
/** Samples kept per source, as the server keeps them (ten minutes at one a second). */
const KEEP = 600
const charts = new Map<string, SourceCharts>()

class ApiFailure extends Error {
  constructor(readonly body: ApiError['error']) {
    super(body.message)
  }
}

async function api<T>(path: string, body?: unknown): Promise<T> {
  const response = await fetch(path, body === undefined ? { credentials: 'same-origin' } : { method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json', 'x-inlet-token': token }, body: JSON.stringify(body) })
  const json = (await response.json()) as T | ApiError
  if (!response.ok || (json as ApiError).error !== undefined) throw new ApiFailure((json as ApiError).error ?? { code: `HTTP ${response.status}`, message: response.statusText })
  return json as T
}

function route(): string[] {
  try {
    return location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent)
  } catch {
    return [''] // a malformed address: the overview
  }
}

/** The table page of `detail`, if that is the page open now. */
function tableOpen(): TableDetail | undefined {
  const [page, source, table] = route()
  return page === 'table' && detail !== undefined && detail.source === source && detail.table === table ? detail : undefined
}

function paintTable(o: Overview | undefined, shown: TableDetail): void {
  const key = `${shown.source}:${shown.table}`
  const note = refreshNote?.key === key ? refreshNote : undefined
  if (note !== undefined) {
    const phase = o?.status.sources.find((s) => s.source === shown.source)?.tables.find((t) => t.table === shown.table)?.phase
    if (phase === 'refreshing') note.seenRunning = true
    else if (note.seenRunning && phase === 'streaming') refreshNote = { ...note, html: `Refreshed: the new copy replaced the table at ${new Date().toLocaleTimeString('en-GB')}.`, busy: false, seenRunning: false }
  }
  paint(tablePage(o, shown, refreshNote?.key === key ? refreshNote : undefined))
}

function dropCharts(): void {
  for (const c of charts.values()) c.destroy()
  charts.clear()
}

/** Re-renders live content, keeping keyboard focus on the same link or button. */
function paint(html: string): void {
  const focused = document.activeElement instanceof HTMLElement && main.contains(document.activeElement) ? (document.activeElement.getAttribute('href') ?? document.activeElement.dataset.action) : undefined
  main.innerHTML = html
  if (focused !== undefined && focused !== null) main.querySelector<HTMLElement>(`[href="${CSS.escape(focused)}"], [data-action="${CSS.escape(focused)}"]`)?.focus()
}

function drawOverview(o: Overview): void {
  const sources = o.status.sources.map((s) => s.source)
  // Drawn anew when the sources or where the figures come from change (a run started, say).
  const origin = `${o.mode}:${o.status.run?.pid ?? ''}:${o.status.destinationHeld}:${sources.join(',')}`
  const same = sources.length === charts.size && main.dataset.view === 'overview' && main.dataset.origin === origin
  if (!same) {
    dropCharts()
    main.innerHTML = overviewPage(o)
    main.dataset.view = 'overview'
    main.dataset.origin = origin
    for (const box of main.querySelectorAll<HTMLElement>('[data-charts]')) charts.set(box.dataset.charts ?? '', new SourceCharts(box))
  } else {
    // Only the figures: the charts stay and take the new samples.
    for (const s of o.status.sources) {
      const card = main.querySelector<HTMLElement>(`section[data-source="${CSS.escape(s.source)}"]`)
      const fresh = document.createElement('div')
      fresh.innerHTML = overviewPage({ ...o, status: { ...o.status, sources: [s] } })
      const next = fresh.querySelector('section')
      if (card === null || next === null) continue
      for (const part of ['h2', 'dl', '.slot']) card.querySelector(part)?.replaceWith(next.querySelector(part) ?? document.createElement('span'))
      card.querySelector('.error')?.remove()
      const error = next.querySelector('.error')
      if (error !== null) card.querySelector('.slot')?.after(error)
    }
  }
  for (const [source, chart] of charts) chart.update(o.history[source] ?? [])
}

async function show(): Promise<void> {
  const [page = '', ...rest] = route()
  for (const a of document.querySelectorAll('header nav a')) a.toggleAttribute('aria-current', a.getAttribute('href') === `#/${page}`)
  if (page !== '') {
    dropCharts()
    main.dataset.view = page
  }
  try {
    if (page === '') {
      if (overview !== undefined) drawOverview(overview)
    } else if (page === 'tables') {
      if (overview !== undefined) paint(tablesPage(overview))
    } else if (page === 'table') {
      const [source = '', table = ''] = rest
      detail = undefined
      main.innerHTML = '<p class="muted">Loading…</p>'
      detail = await api<TableDetail>(`/api/table?source=${encodeURIComponent(source)}&table=${encodeURIComponent(table)}`)
      const shown = tableOpen()
      if (shown !== undefined) paintTable(overview, shown)
    } else if (page === 'doctor') {
      main.innerHTML = '<h1>Doctor</h1><p class="muted">Checking each source…</p>'
      const { report } = await api<{ report: DoctorReport | null }>('/api/doctor')
      main.innerHTML = doctorPage(report)
    } else if (page === 'query') {
      main.innerHTML = QUERY_FORM
      if (result !== undefined) (document.getElementById('query-result') as HTMLElement).innerHTML = queryResult(result, resultPage)
    } else {
      main.innerHTML = '<p>No such page. <a href="#/">Overview</a></p>'
    }
  } catch (error) {
    main.innerHTML = errorBox(error instanceof ApiFailure ? error.body : { code: 'INLET-UI', message: String(error) })
  }
}

function onOverview(update: Overview): void {
  let o = update
  if (update.append === true && overview !== undefined) {
    // Live updates carry only the new samples: add them to what the page has.
    const history: Record<string, Overview['history'][string]> = {}
    for (const [source, samples] of Object.entries(update.history)) history[source] = [...(overview.history[source] ?? []), ...samples].slice(-KEEP)
    o = { ...update, history }
  }
  overview = o
  live.textContent = `live · ${new Date().toLocaleTimeString('en-GB')}`
  live.className = 'live on'
  const [page = ''] = route()
  if (page === '') drawOverview(o)
  else if (page === 'tables') paint(tablesPage(o))
  else if (page === 'table') {
    const shown = tableOpen()
    if (shown !== undefined) paintTable(o, shown)
  }
}

async function runQuery(): Promise<void> {
  const sql = (document.getElementById('sql') as HTMLTextAreaElement).value
  const limit = Number((document.getElementById('limit') as HTMLSelectElement).value)
  const box = document.getElementById('query-result') as HTMLElement
  box.innerHTML = '<p class="muted">Running…</p>'
  try {
    result = await api<QueryResult>('/api/query', { sql, limit })
    resultPage = 0
    box.innerHTML = queryResult(result, 0)
  } catch (error) {
    result = undefined
    box.innerHTML = errorBox(error instanceof ApiFailure ? error.body : { code: 'INLET-UI', message: String(error) })
  }
}

main.addEventListener('click', (event) => {
  const button = (event.target as HTMLElement).closest<HTMLButtonElement>('button[data-action]')
  if (button === null || button.disabled) return
  const action = button.dataset.action
  if (action === 'refresh') {
    button.disabled = true
    const key = `${button.dataset.source ?? ''}:${button.dataset.table ?? ''}`
    refreshNote = { key, html: 'Asking…', busy: true, seenRunning: false }
    api('/api/refresh', { source: button.dataset.source, table: button.dataset.table })
      .then(() => {
        if (refreshNote?.key === key) refreshNote = { ...refreshNote, html: 'Refresh asked: the copy starts within seconds.' }
      })
      .catch((error: unknown) => {
        refreshNote = { key, html: errorBox(error instanceof ApiFailure ? error.body : { code: 'INLET-UI', message: String(error) }), busy: false, seenRunning: false }
      })
      .finally(() => {
        const shown = tableOpen()
        if (shown !== undefined) paintTable(overview, shown)
      })
  } else if (action === 'copy') {
    const text = document.getElementById(button.dataset.target ?? '')?.textContent ?? ''
    navigator.clipboard.writeText(text).then(
      () => (button.textContent = 'Copied'),
      () => {
        // No clipboard (permission): select the text for Ctrl+C instead.
        const pre = document.getElementById(button.dataset.target ?? '')
        if (pre !== null) getSelection()?.selectAllChildren(pre)
        button.textContent = 'Selected: Ctrl+C'
      },
    )
  } else if (action === 'page' && result !== undefined) {
    resultPage = Number(button.dataset.page)
    ;(document.getElementById('query-result') as HTMLElement).innerHTML = queryResult(result, resultPage)
  }
})

main.addEventListener('submit', (event) => {
  if ((event.target as HTMLElement).id !== 'query-form') return
  event.preventDefault()
  void runQuery()
})

main.addEventListener('keydown', (event) => {
  if ((event.target as HTMLElement).id === 'sql' && event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
    event.preventDefault()
    void runQuery()
  }
})

window.addEventListener('hashchange', () => void show().then(() => main.focus({ preventScroll: true })))
window.addEventListener('resize', () => {
  for (const c of charts.values()) c.resize()
})

const events = new EventSource('/api/events')
events.addEventListener('overview', (e) => onOverview(JSON.parse((e as MessageEvent<string>).data) as Overview))
events.addEventListener('failure', (e) => {
  const body = JSON.parse((e as MessageEvent<string>).data) as ApiError
  live.textContent = `error: ${body.error.code}`
  live.className = 'live off'
  live.title = body.error.message
})
events.addEventListener('error', () => {
  live.textContent = 'reconnecting…'
  live.className = 'live off'
})

void api<Overview>('/api/overview').then(onOverview, (error: unknown) => {
  main.innerHTML = errorBox(error instanceof ApiFailure ? error.body : { code: 'INLET-UI', message: String(error) })
})
void show()
