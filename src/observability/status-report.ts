/**
 * The report behind `inlet status`: per source its checkpoint, lag, slot health and last error;
 * per table its phase, rows, last applied commit and copy progress. Built by the running run
 * (from its live state and its own reading connection) or, with no run, from the file read-only
 * and the source's catalog.
 */
import { displayOf } from '../destination/registry.js'
import type { ResolvedConfig } from '../config/load.js'
import { InletError } from '../errors/inlet-error.js'
import { redactSecrets, type ConnectionSettings } from '../postgres/connection-settings.js'
import type { Destination } from '../destination/destination.js'
import type { LastError, TableState } from '../model/state.js'
import { connect } from '../postgres/connect.js'
import { formatLsn, parseLsn } from '../protocol/lsn.js'
import { readSlots, serverVersionNum } from '../source/catalog.js'
import type { SlotFacts } from '../source/preflight/facts.js'
import { key } from '../source/selection.js'
import { displayName, parsePgTime } from '../postgres/sql-text.js'
import { estimateCopy } from './copy-progress.js'
import { walWarning, type ChangeKind, type LiveTable, type RunMonitor, type SourceMonitor } from './run-monitor.js'

export interface TableStatus {
  readonly table: string
  readonly destination: string
  /** snapshot, streaming, refreshing, refresh pending, dropped, failed. */
  readonly phase: string
  readonly rows: number | null
  readonly refreshPending: boolean
  readonly lastCommitTime: string | null
  /** A table's changes arrive in its source's one stream: its lag is the source's while it streams. */
  readonly lagBytes: number | null
  readonly lagSeconds: number | null
  /** `percent` and `etaSeconds` are null without a usable estimate (see copy-progress.ts). */
  readonly copy: { readonly rowsCopied: number; readonly estimatedRows: number; readonly bytesCopied: number; readonly rowsPerSecond: number; readonly percent: number | null; readonly etaSeconds: number | null } | null
  /** Changes applied by this run (null when no run holds the destination). */
  readonly applied: Readonly<Record<ChangeKind, number>> | null
  /** Why the running run skips the table (it cannot be followed), and the fix. */
  readonly skipped?: { readonly reason: string; readonly fix?: string | undefined } | undefined
}

export interface SlotStatus {
  readonly active: boolean
  readonly activePid: number | null
  readonly retainedBytes: number | null
  readonly walStatus: string | null
  readonly safeWalSize: number | null
  readonly failover: boolean
  /** At the current WAL rate, seconds until the server would invalidate the slot if it stopped advancing. */
  readonly invalidationForecastSeconds: number | null
  /** Retained WAL past retained_wal_warning_mb, safe_wal_size below it, or unreserved. */
  readonly walWarning: boolean
}

export interface SourceStatus {
  readonly source: string
  readonly slot: string
  /** The run's phase for this source (starting, snapshot, streaming, reconnecting, failed); null with no run. */
  readonly phase: string | null
  readonly checkpointLsn: string | null
  readonly lastCommitTime: string | null
  readonly lagBytes: number | null
  readonly lagSeconds: number | null
  readonly slotStatus: SlotStatus | null
  /** Why the slot and the server's position could not be read (no credentials, server down); null when read. */
  readonly slotError: string | null
  readonly lastError: LastError | null
  readonly tables: readonly TableStatus[]
}

export interface StatusReport {
  readonly destination: string
  /** The run that holds the destination, when one does and answered. */
  readonly run: { readonly pid: number; readonly since: string } | null
  /** Another process (not an inlet run that answers) holds the file: only the source side is known. */
  readonly destinationHeld: boolean
  readonly sources: readonly SourceStatus[]
}

/**
 * `destination`: a connection to read the file with, or 'held' when another process holds it.
 * `monitor`: the running run's live state (then the source is not queried: the run reads its slot).
 */
/** What status needs of a source: from the config, or recorded in the destination (no connection: not recorded). */
export interface StatusSource {
  readonly name: string
  readonly slot: string
  readonly connection: ConnectionSettings | undefined
}

export interface StatusConfig {
  readonly sources: readonly StatusSource[]
  readonly destination: ResolvedConfig['destination']
  readonly retainedWalWarningBytes: number
}

/** What the source side of a status holds: the slot and the server's position, or why they are unknown. */
export interface SourceSide {
  readonly slot: SlotFacts | undefined
  readonly current: bigint | undefined
  readonly slotError: string | null
}

/**
 * `sides`: the source side read beforehand (readSourceSide), so that a reader without a run holds
 * the destination only while it reads it, not while it waits for a source.
 */
export async function buildStatus(config: StatusConfig, destination: Destination | 'held', monitor?: RunMonitor, sides?: ReadonlyMap<string, SourceSide>): Promise<StatusReport> {
  const sources: SourceStatus[] = []
  for (const source of config.sources) {
    const live = monitor?.sources.get(source.name)
    const side = live !== undefined ? { slot: live.slot, current: live.serverLsn, slotError: null } : (sides?.get(source.name) ?? (await readSourceSide(source)))
    sources.push(await sourceStatus(source, destination, live, side, config.retainedWalWarningBytes))
  }
  return {
    destination: displayOf(config.destination),
    run: monitor === undefined ? null : { pid: process.pid, since: monitor.startedAt.toISOString() },
    destinationHeld: destination === 'held',
    sources,
  }
}

/** The slot and the server's position from the source's catalog (a source down: why, instead). */
export async function readSourceSide(source: StatusSource): Promise<SourceSide> {
  if (source.connection === undefined) return { slot: undefined, current: undefined, slotError: 'the destination does not record where this source is (its last run predates Inlet recording it); pass --source URL, or run inlet run once' }
  // The destination's side is worth showing without the source: a server that is down or
  // credentials not at hand leave only the slot's figures and the lag unknown.
  try {
    const client = await connect(source.connection)
    try {
      const current = parseLsn((await client.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]?.lsn ?? '0/0')
      const slot = (await readSlots(client, await serverVersionNum(client))).find((s) => s.name === source.slot)
      return { slot, current, slotError: null }
    } finally {
      await client.end()
    }
  } catch (error) {
    return { slot: undefined, current: undefined, slotError: redactSecrets(error instanceof InletError ? `${error.code}: ${error.message}` : error instanceof Error ? error.message : String(error)) }
  }
}

async function sourceStatus(source: StatusSource, destination: Destination | 'held', live: SourceMonitor | undefined, side: SourceSide, retainedWalWarningBytes: number): Promise<SourceStatus> {
  const { slot, current, slotError } = side
  const forecast = live?.invalidationForecastSeconds
  const slotStatus: SlotStatus | null =
    slot === undefined
      ? null
      : { active: slot.active, activePid: slot.activePid, retainedBytes: slot.retainedBytes, walStatus: slot.walStatus, safeWalSize: slot.safeWalSize, failover: slot.failover, invalidationForecastSeconds: forecast === undefined || !Number.isFinite(forecast) ? null : Math.round(forecast), walWarning: live?.walWarning ?? walWarning(slot, retainedWalWarningBytes) }
  const empty: SourceStatus = { source: source.name, slot: source.slot, phase: live?.phase ?? null, slotStatus, slotError, checkpointLsn: null, lastCommitTime: null, lagBytes: null, lagSeconds: null, lastError: null, tables: [] }
  if (destination === 'held' || !(await destination.hasState())) return empty
  const state = await destination.readSource(source.name)
  if (state === undefined) return empty
  const checkpoint = live?.checkpoint || state.checkpointLsn
  const lagBytes = checkpoint === 0n || current === undefined ? null : Number(current > checkpoint ? current - checkpoint : 0n)
  const commitTime = state.checkpointCommitTime ?? null
  // Without a run: seconds since the last applied commit while WAL waits (the lag while the source
  // writes steadily), 0 when caught up. With one: how long the oldest unapplied commit has waited.
  const lagSeconds = live !== undefined ? (live.lagSeconds ?? null) : lagBytes === null ? null : lagBytes === 0 ? 0 : commitTime === null ? null : (Date.now() - parsePgTime(commitTime)) / 1000
  // The error that stopped the last run, until a run writes a checkpoint after it.
  const error = state.lastError ?? null
  const currentError = error !== null && (state.updatedAt == null || Date.parse(error.at) >= parsePgTime(state.updatedAt)) ? error : null
  const tables: TableStatus[] = []
  for (const t of (await destination.readTables(source.name)).sort((a, b) => key(a.sourceSchema, a.sourceTable).localeCompare(key(b.sourceSchema, b.sourceTable)))) {
    tables.push(await tableStatus(destination, t, live, currentError, lagBytes, lagSeconds))
  }
  // Tables the running run cannot follow, with why.
  for (const t of live?.tables.values() ?? []) {
    if (t.phase !== 'skipped' || tables.some((x) => x.table === t.table)) continue
    tables.push({ table: t.table, destination: t.destination, phase: 'skipped', rows: null, refreshPending: false, lastCommitTime: null, lagBytes: null, lagSeconds: null, copy: null, applied: null, skipped: t.skipped })
  }
  return { ...empty, checkpointLsn: checkpoint === 0n ? null : formatLsn(checkpoint), lastCommitTime: commitTime, lagBytes, lagSeconds, lastError: live?.phase === 'streaming' ? null : currentError, tables }
}

async function tableStatus(destination: Destination, t: TableState, live: SourceMonitor | undefined, error: LastError | null, lagBytes: number | null, lagSeconds: number | null): Promise<TableStatus> {
  const display = displayName(t.sourceSchema, t.sourceTable)
  const running = live?.tables.get(display)
  const rows = await destination.currentRows(t).catch(() => null)
  let phase: string = t.phase
  if (running !== undefined) phase = running.phase
  else if (error?.table === display) phase = 'failed'
  else if (t.refreshRequested && t.phase === 'streaming') phase = 'refresh pending'
  const lastCommit = running?.lastCommitTime === undefined ? t.lastCommitTime : new Date(running.lastCommitTime / 1000).toISOString()
  return {
    table: display,
    destination: `${t.destSchema}.${t.destTable}`,
    phase,
    rows,
    refreshPending: t.refreshRequested,
    lastCommitTime: lastCommit,
    lagBytes: phase === 'streaming' ? lagBytes : null,
    lagSeconds: phase === 'streaming' ? lagSeconds : null,
    copy: running?.copy === undefined ? null : copyStatus(running.copy),
    applied: running === undefined ? null : { ...running.applied },
  }
}

function copyStatus(copy: NonNullable<LiveTable['copy']>): NonNullable<TableStatus['copy']> {
  const elapsed = (Date.now() - copy.startedAt) / 1000
  const { percent, etaSeconds } = estimateCopy(copy, elapsed)
  return { rowsCopied: copy.rowsCopied, estimatedRows: copy.estimatedRows, bytesCopied: copy.bytesCopied, rowsPerSecond: elapsed > 0 ? Math.round(copy.rowsCopied / elapsed) : 0, percent, etaSeconds }
}
