/**
 * The dashboard's pages as HTML text built from API answers. Every value goes through esc(): names
 * of tables, columns and errors come from the source and are never markup.
 */
import { bytes } from './charts.js'
import type { DoctorReport, Finding, Overview, QueryResult, SourceStatus, TableDetail, TableStatus } from './types.js'

export function esc(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

export function duration(seconds: number): string {
  if (seconds >= 86_400) return `${(seconds / 86_400).toFixed(1)} d`
  if (seconds >= 3600) return `${(seconds / 3600).toFixed(1)} h`
  if (seconds >= 60) return `${Math.round(seconds / 60)} min`
  return `${seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)} s`
}

function count(n: number | null | undefined): string {
  return n === null || n === undefined ? '–' : n.toLocaleString('en-US')
}

function time(iso: string | null): string {
  if (iso === null) return '–'
  const d = new Date(iso)
  return Number.isNaN(d.getTime()) ? esc(iso) : `<time datetime="${esc(d.toISOString())}">${esc(d.toLocaleTimeString('en-GB'))}</time>`
}

export function tableHref(source: string, table: string): string {
  return `#/table/${encodeURIComponent(source)}/${encodeURIComponent(table)}`
}

const PHASE_CLASS: Record<string, string> = { streaming: 'ok', snapshot: 'busy', refreshing: 'busy', starting: 'busy', 'refresh pending': 'busy', reconnecting: 'warn', dropped: 'muted', skipped: 'warn', failed: 'bad', stopped: 'muted' }

export function phase(p: string | null): string {
  const text = p ?? 'no run'
  return `<span class="badge ${PHASE_CLASS[text] ?? 'muted'}" data-phase="${esc(text)}">${esc(text)}</span>`
}

function modeNote(o: Overview): string {
  if (o.mode === 'read-only') return `<p class="note">No inlet run holds ${esc(o.status.destination)}: figures are read from it read-only, and refresh needs a run.</p>`
  if (o.status.destinationHeld) return `<p class="note warn">Another process holds ${esc(o.status.destination)}: only the source side is known.</p>`
  const run = o.status.run
  return run === null ? '' : `<p class="muted small">${esc(o.status.destination)} · inlet run PID ${esc(run.pid)} since ${time(run.since)}</p>`
}

function lastRate(o: Overview, source: string): number | null {
  const samples = o.history[source] ?? []
  for (let i = samples.length - 1; i >= 0; i--) {
    const rate = samples[i]?.changesPerSecond
    if (rate !== null && rate !== undefined) return rate
  }
  return null
}

function slotLine(s: SourceStatus): string {
  const slot = s.slotStatus
  if (slot === null) return s.slotError === null ? 'not read yet' : `not read: ${esc(s.slotError)}`
  const parts = [`${slot.active ? 'active' : 'inactive'}`, `retains ${slot.retainedBytes === null ? 'n/a' : bytes(slot.retainedBytes)}`, `wal_status ${esc(slot.walStatus ?? '–')}`]
  if (slot.safeWalSize === null) parts.push('max_slot_wal_keep_size unlimited')
  else parts.push(`${bytes(Math.max(0, slot.safeWalSize))} before invalidation`)
  if (slot.invalidationForecastSeconds !== null) parts.push(`invalidated in ~${duration(slot.invalidationForecastSeconds)} if it stopped advancing`)
  return `${parts.join(' · ')}${slot.walWarning ? ' <span class="badge warn">WAL warning</span>' : ''}`
}

/** One source's figures; its charts go into the `.charts` element the app fills. */
export function sourceCard(o: Overview, s: SourceStatus): string {
  const rate = lastRate(o, s.source)
  const phases = new Map<string, number>()
  for (const t of s.tables) phases.set(t.phase, (phases.get(t.phase) ?? 0) + 1)
  const error = s.lastError === null ? '' : `<div class="error" role="alert"><strong>${esc(s.lastError.code)}</strong> ${esc(s.lastError.message)}${s.lastError.table === undefined ? '' : ` (table ${esc(s.lastError.table)})`} <span class="muted small">at ${time(s.lastError.at)}</span>${s.lastError.fix === undefined ? '' : `<div>fix: <code>${esc(s.lastError.fix)}</code></div>`}</div>`
  return `<section class="card" data-source="${esc(s.source)}" aria-labelledby="src-${esc(s.source)}">
  <h2 id="src-${esc(s.source)}">${esc(s.source)} ${phase(s.phase)}</h2>
  <dl class="figures">
    <div><dt>Checkpoint</dt><dd data-field="checkpoint">${esc(s.checkpointLsn ?? 'none yet')}</dd></div>
    <div><dt>Last commit</dt><dd>${time(s.lastCommitTime)}</dd></div>
    <div><dt>Lag</dt><dd data-field="lag">${s.lagBytes === null ? '–' : bytes(s.lagBytes)}${s.lagSeconds === null ? '' : ` / ${duration(s.lagSeconds)}`}</dd></div>
    <div><dt>Changes/s</dt><dd data-field="rate">${rate === null ? '–' : rate.toFixed(0)}</dd></div>
    <div><dt>Tables</dt><dd>${[...phases].map(([p, n]) => `${n} ${esc(p)}`).join(', ') || 'none yet'}</dd></div>
  </dl>
  <p class="slot"><strong>Slot ${esc(s.slot)}:</strong> ${slotLine(s)}</p>
  ${error}
  <div class="charts" data-charts="${esc(s.source)}"></div>
</section>`
}

export function overviewPage(o: Overview): string {
  if (o.status.sources.length === 0) return `${modeNote(o)}<p>No source yet: inlet run has not started streaming into this destination.</p>`
  return `<h1 class="visually-hidden">Overview</h1>${modeNote(o)}${o.status.sources.map((s) => sourceCard(o, s)).join('')}`
}

function progress(t: TableStatus): string {
  if (t.copy === null) return ''
  const c = t.copy
  const pct = c.percent
  const label = `${count(c.rowsCopied)}${c.estimatedRows > 0 ? ` of ~${count(c.estimatedRows)}` : ''} rows${pct === null ? '' : ` · ${pct}%`} · ${count(c.rowsPerSecond)} rows/s · ${bytes(c.bytesCopied)}${c.etaSeconds === null ? '' : ` · ETA ${duration(c.etaSeconds)}`}`
  return `<div class="progress"><progress max="100" ${pct === null ? '' : `value="${pct}"`} aria-label="copy of ${esc(t.table)}">${pct ?? ''}</progress><span class="small">${label}</span></div>`
}

function applied(t: TableStatus): string {
  return t.applied === null ? '–' : `${count(t.applied.insert)} / ${count(t.applied.update)} / ${count(t.applied.delete)}${t.applied.truncate > 0 ? ` / ${count(t.applied.truncate)} trunc.` : ''}`
}

export function tableRow(source: string, t: TableStatus): string {
  const name = t.skipped === undefined ? `<a href="${tableHref(source, t.table)}">${esc(t.table)}</a>` : esc(t.table)
  return `<tr data-table="${esc(`${source}:${t.table}`)}"><th scope="row">${name}<div class="muted small">→ ${esc(t.destination)}</div></th><td>${phase(t.phase)}${t.refreshPending && t.phase !== 'refresh pending' ? ' <span class="badge busy">refresh pending</span>' : ''}${progress(t)}${t.skipped === undefined ? '' : `<div class="small">${esc(t.skipped.reason)}</div>`}</td><td class="num" data-field="rows">${count(t.rows)}</td><td>${time(t.lastCommitTime)}</td><td class="num" data-field="applied">${applied(t)}</td></tr>`
}

export function tablesPage(o: Overview): string {
  const sections = o.status.sources.map((s) => `<section class="card"><h2>${esc(s.source)} ${phase(s.phase)}</h2><div class="scroll"><table class="grid">
<thead><tr><th scope="col">Table</th><th scope="col">Phase</th><th scope="col" class="num">Rows</th><th scope="col">Last commit</th><th scope="col" class="num">Ins / upd / del</th></tr></thead>
<tbody>${s.tables.map((t) => tableRow(s.source, t)).join('')}</tbody></table></div></section>`)
  return `<h1 class="visually-hidden">Tables</h1>${modeNote(o)}${sections.join('') || '<p>No tables yet.</p>'}`
}

/** What the refresh button of a table page says after a click (kept across live updates). */
export interface RefreshNote {
  readonly key: string
  readonly html: string
  readonly busy: boolean
}

export function tablePage(o: Overview | undefined, detail: TableDetail, note?: RefreshNote): string {
  const live = o?.status.sources.find((s) => s.source === detail.source)?.tables.find((t) => t.table === detail.table)
  const canRefresh = o !== undefined && o.mode !== 'read-only' && (live?.phase ?? detail.phase) === 'streaming'
  const why = o?.mode === 'read-only' ? 'No inlet run holds the destination: refresh needs one (or mark it with inlet refresh for the next run).' : 'Only a streaming table can be refreshed.'
  return `<p><a href="#/tables">← Tables</a></p>
<section class="card"><h1>${esc(detail.source)}: ${esc(detail.table)} ${phase(live?.phase ?? detail.phase)}</h1>
<dl class="figures">
  <div><dt>Destination</dt><dd>${esc(detail.destination)}</dd></div>
  <div><dt>SCD</dt><dd>type ${detail.scd}${detail.scd === 2 ? ' (history)' : ' (mirror)'}</dd></div>
  <div><dt>Rows</dt><dd data-field="rows">${count(live?.rows)}</dd></div>
  <div><dt>Last commit</dt><dd>${time(live?.lastCommitTime ?? null)}</dd></div>
  <div><dt>Ins / upd / del</dt><dd>${live === undefined ? '–' : applied(live)}</dd></div>
</dl>
<div data-field="progress">${live === undefined ? '' : progress(live)}</div>
<p><button type="button" data-action="refresh" data-source="${esc(detail.source)}" data-table="${esc(detail.table)}" ${canRefresh && note?.busy !== true ? '' : `disabled title="${esc(canRefresh ? 'A refresh was asked' : why)}"`}>Refresh (copy again)</button> <span class="small muted" data-field="refresh-note">${note !== undefined ? note.html : canRefresh ? 'Copies the table beside the current one while the others stream, then swaps it in.' : esc(why)}</span></p>
</section>
<section class="card"><h2>Columns</h2><div class="scroll"><table class="grid"><thead><tr><th scope="col">Column</th><th scope="col">PostgreSQL type</th><th scope="col">Destination type</th><th scope="col">Key</th></tr></thead>
<tbody>${detail.columns.map((c) => `<tr><th scope="row">${esc(c.name)}</th><td><code>${esc(c.sourceType ?? '–')}</code></td><td><code>${esc(c.destinationType ?? '–')}</code></td><td>${c.key ? 'key' : ''}</td></tr>`).join('')}</tbody></table></div></section>
<section class="card"><h2>Schema changes</h2>${detail.schemaChanges.length === 0 ? '<p class="muted">None since the table was copied.</p>' : `<ol class="changes">${detail.schemaChanges.map((c) => `<li>${time(c.at)} <span>${esc(c.change)}</span></li>`).join('')}</ol>`}</section>`
}

const LEVEL_ORDER = ['fail', 'warn', 'info', 'ok']

function finding(f: Finding, id: string): string {
  const fix = f.fix === undefined || f.level === 'ok' ? '' : `<div class="fix"><pre id="${id}"><code>${esc(f.fix)}</code></pre><button type="button" data-action="copy" data-target="${id}">Copy</button></div>`
  return `<li class="finding ${f.level}"><span class="badge ${f.level === 'fail' ? 'bad' : f.level === 'warn' ? 'warn' : f.level === 'ok' ? 'ok' : 'muted'}">${esc(f.level)}</span> <code>${esc(f.code)}</code> <span>${esc(f.message)}</span>${fix}</li>`
}

export function doctorPage(report: DoctorReport | null): string {
  if (report === null) return '<h1>Doctor</h1><p>No source is configured here: start inlet ui with --config inlet.yaml (or --source) to check the sources.</p>'
  let n = 0
  return `<h1>Doctor</h1>${report.sources
    .map((s) => {
      if (s.error !== undefined) return `<section class="card"><h2>${esc(s.source)} <span class="muted small">${esc(s.target)}</span></h2><div class="error" role="alert"><strong>${esc(s.error.code)}</strong> ${esc(s.error.message)}${s.error.fix === undefined ? '' : `<div>fix: ${esc(s.error.fix)}</div>`}</div></section>`
      const sorted = [...s.findings].sort((a, b) => LEVEL_ORDER.indexOf(a.level) - LEVEL_ORDER.indexOf(b.level))
      return `<section class="card"><h2>${esc(s.source)} <span class="muted small">${esc(s.target)}</span></h2><ul class="findings">${sorted.map((f) => finding(f, `fix-${n++}`)).join('')}</ul></section>`
    })
    .join('')}`
}

export const QUERY_FORM = `<h1>Query</h1>
<form id="query-form" class="card">
  <label for="sql">Read-only SQL on the destination (SELECT, WITH, DESCRIBE, SHOW, SUMMARIZE, EXPLAIN)</label>
  <textarea id="sql" name="sql" rows="5" spellcheck="false">SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema NOT IN ('_inlet', 'information_schema') ORDER BY ALL</textarea>
  <div class="row"><label for="limit">Row limit</label><select id="limit" name="limit"><option>100</option><option selected>1000</option><option>10000</option></select>
  <button type="submit">Run</button><span class="muted small">Ctrl+Enter runs it</span></div>
</form>
<div id="query-result" aria-live="polite"></div>`

export const PAGE_ROWS = 50

export function queryResult(result: QueryResult, page: number): string {
  const pages = Math.max(1, Math.ceil(result.rows.length / PAGE_ROWS))
  const rows = result.rows.slice(page * PAGE_ROWS, (page + 1) * PAGE_ROWS)
  const cell = (v: unknown) => (v === null || v === undefined ? '<span class="muted">NULL</span>' : esc(typeof v === 'string' ? v : JSON.stringify(v)))
  return `<section class="card"><p class="small" data-field="result-count">${result.rows.length} row${result.rows.length === 1 ? '' : 's'}${result.truncated ? ' (more not shown: raise the row limit)' : ''}</p>
<div class="scroll"><table class="grid results"><thead><tr>${result.columns.map((c) => `<th scope="col">${esc(c.name)} <span class="muted small">${esc(c.type)}</span></th>`).join('')}</tr></thead>
<tbody>${rows.map((r) => `<tr>${result.columns.map((c) => `<td>${cell(r[c.name])}</td>`).join('')}</tr>`).join('')}</tbody></table></div>
${pages > 1 ? `<nav class="pager" aria-label="Result pages"><button type="button" data-action="page" data-page="${page - 1}" ${page === 0 ? 'disabled' : ''}>Previous</button> <span>page ${page + 1} of ${pages}</span> <button type="button" data-action="page" data-page="${page + 1}" ${page + 1 >= pages ? 'disabled' : ''}>Next</button></nav>` : ''}</section>`
}

export function errorBox(e: { code: string; message: string; fix?: string }): string {
  return `<div class="error" role="alert"><strong>${esc(e.code)}</strong> ${esc(e.message)}${e.fix === undefined ? '' : `<div>fix: ${esc(e.fix)}</div>`}</div>`
}
