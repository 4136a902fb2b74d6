/**
 * `inlet run`: snapshot what needs it, then stream changes into the destination until stopped
 * (or, with `once`, until caught up with the WAL position current when streaming began).
 *
 * Exactly once: each batch of whole transactions is applied in one destination transaction that
 * also writes the checkpoint (the last commit's end LSN); only after that commit is the LSN
 * confirmed to the slot. A restart resumes from the checkpoint and the stream skips every
 * transaction committed before it, so nothing is applied twice or lost.
 *
 * Snapshots: on the first run the slot is (re)created with an exported snapshot; tables added later
 * or whose copy was interrupted are copied under the snapshot of a temporary slot. Either way each
 * table records the slot's consistent point, and the stream applies a table's changes only from
 * transactions that committed at or after it (earlier ones are in the copy).
 */
import { join, dirname } from 'node:path'
import type { ResolvedConfig, ResolvedSource } from '../config/load.js'
import { batchWriteError, DuckDbDestination, type TableState } from '../destination/duckdb/duckdb-destination.js'
import { InletError } from '../errors/inlet-error.js'
import { formatBytes, formatCount, silentLogger, type Logger } from '../observability/log.js'
import { connect, type SqlClient } from '../postgres/connect.js'
import { formatLsn, parseLsn, type Lsn } from '../protocol/lsn.js'
import { readSlots } from '../source/catalog.js'
import type { SlotFacts } from '../source/preflight/facts.js'
import { key } from '../source/selection.js'
import { runSnapshot, type SnapshotProgress } from '../source/snapshot/snapshot-reader.js'
import { ReplicationConnection, type CreatedSlot } from '../source/stream/replication-connection.js'
import type { Relation, StreamEvent } from '../source/stream/stream-events.js'
import { planSource, relationIndex, type SourcePlan } from './source-plan.js'
import { matchesPattern } from '../config/table-pattern.js'
import { TableChanges, type Cell, type ChangeCommit } from './table-changes.js'
import { isAuditRelation, parseAuditRow, splitIdentity, type AuditRow } from './ddl-audit.js'
import { columnsDiffer, evolveTarget, keyChanged, RefreshNeeded, relationColumns, widens, type SchemaChange } from './schema-change.js'
import { bindTarget, type TableTarget } from './table-target.js'
import { addRowChange, bindRelation, type Binding } from './row-binding.js'
import { BackgroundCopy, besideCopy, temporarySlotName } from './background-copy.js'
import { workDirectory } from './work-directory.js'
import { columnType } from '../destination/duckdb/column-types.js'
import { END_COLUMN, LSN_COLUMN, START_COLUMN, SYNCED_COLUMN } from '../destination/duckdb/apply-sql.js'
import type { SourceColumn, SourceTable } from '../source/table-schema.js'
import { RunMonitor, walWarning, type ChangeKind, type SourceMonitor } from '../observability/run-monitor.js'
import { parsePgTime } from '../postgres/sql-text.js'

export interface BatchLimits {
  /** Apply once this many changes are pending (at a transaction boundary). */
  readonly maxChanges: number
  readonly maxBytes: number
  /** Apply when the oldest pending commit is this old, even if more keeps arriving. */
  readonly maxLatencyMs: number
  /** When the stream goes quiet, apply once the oldest pending commit is this old. */
  readonly minLatencyMs: number
}

/** Test hook (INLET_FAULT_KILL_AFTER_COMMIT=N): SIGKILL itself after the N-th batch commit, before its ack. */
const KILL_AFTER_COMMIT = Number(process.env.INLET_FAULT_KILL_AFTER_COMMIT ?? 0)

export const DEFAULT_BATCH: BatchLimits = { maxChanges: 50_000, maxBytes: 64 * 1024 * 1024, maxLatencyMs: 500, minLatencyMs: 50 }

export interface RunOptions {
  readonly config: ResolvedConfig
  readonly once?: boolean
  readonly signal?: AbortSignal
  readonly snapshotWorkers?: number
  readonly batch?: Partial<BatchLimits>
  readonly log?: Logger
  /** The slot is gone: create it again and copy every table again (`inlet run --resync`). */
  readonly resync?: boolean
  /** The slot is held by a previous Inlet process: end that process's connection and take over. */
  readonly takeover?: boolean
  /** Called after each committed batch (for tests and the demo). */
  readonly onBatch?: (summary: BatchSummary) => void
  /** Live state for status and metrics; a new one when not given. */
  readonly monitor?: RunMonitor
  /** Starts what the run offers while it holds the destination (`inlet run` serves its local API and metrics). */
  readonly serve?: (destination: DuckDbDestination, monitor: RunMonitor) => Promise<RunServices>
  /** Called when a refreshed copy is loaded, before it replaces the table (tests read both then). */
  readonly onRefreshLoaded?: (query: <T>(sql: string) => Promise<T[]>, table: string, copy: string) => Promise<void>
}

/** Where `inlet refresh` loads a table's new copy, beside the table. */

export interface BatchSummary {
  readonly source: string
  readonly checkpoint: Lsn
  readonly transactions: number
  readonly changes: number
  readonly applyMs: number
  /** Commit time (µs since 1970) of the first and last transaction in the batch. */
  readonly firstCommitTime: number
  readonly lastCommitTime: number
}

export interface RunResult {
  readonly snapshotTables: number
  readonly snapshotRows: number
  readonly transactions: number
  readonly changes: number
  /** The first source's checkpoint (see `checkpoints` for every source's). */
  readonly checkpoint: Lsn
  readonly checkpoints: ReadonlyArray<{ readonly source: string; readonly checkpoint: Lsn }>
}

export async function runPipeline(options: RunOptions): Promise<RunResult> {
  const { config } = options
  const log = options.log ?? silentLogger
  const monitor = options.monitor ?? new RunMonitor()
  const destination = await DuckDbDestination.open(config.destination.slice('duckdb:'.length))
  // One DuckDB connection per source: their batches commit side by side in one file (each writes
  // its own tables and state rows), so a busy source never waits for another's batch.
  const connections = [destination]
  // One source failing stops the others cleanly (their batches commit, their slots are confirmed).
  const stop = new AbortController()
  const onAbort = () => stop.abort()
  options.signal?.addEventListener('abort', onAbort)
  let services: RunServices | undefined
  try {
    for (let i = 1; i < config.sources.length; i++) connections.push(await destination.openSibling())
    if (options.serve !== undefined) services = await options.serve(destination, monitor)
    const several = config.sources.length > 1
    let firstFailure: { error: unknown } | undefined
    const outcomes = await Promise.allSettled(
      config.sources.map(async (source, i) => {
        const sourceLog = several ? withSource(log, source.name) : log
        try {
          return await runSource(connections[i] as DuckDbDestination, source, { ...options, signal: stop.signal }, sourceLog, monitor)
        } catch (error) {
          // The first source to fail is the cause; the others are only stopping.
          const first = firstFailure === undefined
          firstFailure ??= { error }
          stop.abort()
          monitor.source(source.name, source.slot).phase = 'failed'
          if (!first && isTransient(error)) throw error
          const record = monitor.recordError(error, source.name)
          await (connections[i] as DuckDbDestination).writeLastError(source.name, record).catch(() => undefined)
          if (several) sourceLog.warn('source.failed', `Source ${source.name} stopped: ${record.code} ${record.message}${first ? ' Stopping the others.' : ''}`, { code: record.code })
          throw error
        }
      }),
    )
    if (firstFailure !== undefined) throw firstFailure.error
    const results = outcomes.map((o) => (o as PromiseFulfilledResult<RunResult>).value)
    return {
      snapshotTables: results.reduce((n, r) => n + r.snapshotTables, 0),
      snapshotRows: results.reduce((n, r) => n + r.snapshotRows, 0),
      transactions: results.reduce((n, r) => n + r.transactions, 0),
      changes: results.reduce((n, r) => n + r.changes, 0),
      checkpoint: results[0]?.checkpoint ?? 0n,
      checkpoints: results.flatMap((r) => r.checkpoints),
    }
  } finally {
    options.signal?.removeEventListener('abort', onAbort)
    await services?.close().catch(() => undefined)
    for (const c of connections.slice(1)) await c.close().catch(() => undefined)
    await destination.close()
  }
}

/** Services a run offers while it holds the destination (the local API, metrics); closed at the end. */
export interface RunServices {
  close(): Promise<void>
}

/** One source, from its first connection to its stop: reconnects when the network or server fails. */
async function runSource(destination: DuckDbDestination, source: ResolvedSource, options: RunOptions, log: Logger, monitor: RunMonitor): Promise<RunResult> {
  const live = monitor.source(source.name, source.slot)
  // A lost connection or a restarting server: reconnect with backoff and resume from the
  // checkpoint (nothing past it was acknowledged, so nothing is lost or applied twice).
  // A source never reached in this process is a setup problem, reported at once.
  const reached = { source: false }
  for (let attempt = 0; ; attempt++) {
    const began = Date.now()
    try {
      const result = await runSession(destination, source, options, log, options.resync === true && attempt === 0, reached, live)
      live.phase = 'stopped'
      return result
    } catch (error) {
      if (!isTransient(error) || !reached.source || options.signal?.aborted === true) throw error
      monitor.recordError(error, source.name, true)
      live.phase = 'reconnecting'
      await destination.rollback()
      if (Date.now() - began > 60_000) attempt = 0
      const wait = Math.min(30_000, 1000 * 2 ** Math.min(attempt, 5))
      log.warn('source.reconnect', `${error instanceof Error ? error.message : String(error)} Reconnecting in ${wait / 1000} s (attempt ${attempt + 1}).`, { attempt: attempt + 1, waitMs: wait })
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, wait)
        options.signal?.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true })
      })
      if (stopped(options)) {
        live.phase = 'stopped'
        const checkpoint = (await destination.readSource(source.name))?.checkpointLsn ?? 0n
        return { snapshotTables: 0, snapshotRows: 0, transactions: 0, changes: 0, checkpoint, checkpoints: [{ source: source.name, checkpoint }] }
      }
    }
  }
}

/** Log lines of one source among several carry its name. */
function withSource(log: Logger, name: string): Logger {
  return {
    info: (event, message, fields) => log.info(event, `[${name}] ${message}`, { source: name, ...fields }),
    warn: (event, message, fields) => log.warn(event, `[${name}] ${message}`, { source: name, ...fields }),
    status: (text) => log.status(`[${name}] ${text}`),
  }
}

function stopped(options: RunOptions): boolean {
  return options.signal?.aborted === true
}

/** One connection's worth of work: plan, copy what needs it, stream. */
async function runSession(destination: DuckDbDestination, source: ResolvedSource, options: RunOptions, log: Logger, resync: boolean, reached: { source: boolean }, live: SourceMonitor): Promise<RunResult> {
  const { config } = options
  let client: SqlClient | undefined
  try {
    client = await connect(source.connection, { pinValueSettings: true })
    reached.source = true
    const plan = await followRenames(await planSource(client, source, config.scd), destination, source)
    const snapshot = await prepareSnapshot(client, destination, source, plan, log, resync, options.takeover === true)
    let snapshotRows = 0
    try {
      if (snapshot.targets.length > 0) {
        live.phase = 'snapshot'
        snapshotRows = await copyTables(destination, source, plan, snapshot, options, log, live).catch((error: unknown) => {
          if (options.signal?.aborted === true) return 0
          throw error
        })
      }
    } finally {
      // Also when the copy fails: an open exporting connection would keep the process alive.
      await snapshot.release()
    }
    if (options.signal?.aborted === true) return { snapshotTables: snapshot.targets.length, snapshotRows, transactions: 0, changes: 0, checkpoint: 0n, checkpoints: [] }
    const states = new Map((await destination.readTables(source.name)).map((s) => [key(s.sourceSchema, s.sourceTable), s]))
    // Tables created, published or needing a new copy while streaming are copied beside the stream.
    const streamed = await streamChanges(client, destination, source, plan, states, options, log, live)
    return { snapshotTables: snapshot.targets.length, snapshotRows, ...streamed, checkpoints: [{ source: source.name, checkpoint: streamed.checkpoint }] }
  } finally {
    await client?.end().catch(() => undefined)
  }
}

/** SQLSTATEs of a server going away or not there yet: admin shutdown, crash shutdown, starting up, connection failures. */
const TRANSIENT_SQLSTATES = new Set(['57P01', '57P02', '57P03', '08000', '08001', '08003', '08006'])

/** An error that a new connection may not meet: the network or the server, not the data or the setup. */
export function isTransient(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof InletError && (e.code === 'INLET-N001' || e.code === 'INLET-N005')) return true
    const code = (e as { code?: unknown }).code
    if (typeof code === 'string' && (TRANSIENT_SQLSTATES.has(code) || ['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT'].includes(code))) return true
    if (/Connection terminated|terminating connection/i.test(e.message)) return true
  }
  return false
}

interface PreparedSnapshot {
  readonly targets: readonly TableTarget[]
  readonly created: CreatedSlot | undefined
  /**
   * SCD2 start of copied rows: the source's clock read before the slot was created, so never later
   * than the commit time of a transaction after the consistent point (which closes such a version).
   */
  readonly snapshotTime: string
  /** Ends the exporting connection (and with it a temporary slot). */
  readonly release: () => Promise<void>
}

/**
 * Decides which tables need a copy and creates the slot whose snapshot they will be copied under.
 * The destination's state and the slot must agree: a destination with a checkpoint needs its slot.
 */
async function prepareSnapshot(client: SqlClient, destination: DuckDbDestination, source: ResolvedSource, plan: SourcePlan, log: Logger, resync: boolean, takeover: boolean): Promise<PreparedSnapshot> {
  const replication = await ReplicationConnection.open(source.connection)
  let keepOpen = false
  try {
    const identity = await replication.identifySystem()
    const state = await destination.readSource(source.name)
    if (state !== undefined && (state.systemId !== identity.systemId || state.slot !== source.slot)) {
      throw new InletError('INLET-D004', `The destination holds source "${source.name}" from server ${state.systemId}, slot ${state.slot}; this run reads server ${identity.systemId}, slot ${source.slot}.`)
    }
    const tableStates = new Map((await destination.readTables(source.name)).map((s) => [key(s.sourceSchema, s.sourceTable), s]))
    const existing = await destination.tableNames()
    // Without a checkpoint every table is copied; otherwise those not (or no longer) streaming as configured.
    // (A table marked for a refresh is copied while the stream runs, see BackgroundCopy.)
    const needCopy = plan.targets.filter((target) => {
      const s = tableStates.get(key(target.table.schema, target.table.name))
      return state === undefined || s === undefined || s.phase !== 'streaming' || !sameBinding(s, target) || !existing.has(key(target.destSchema, target.destName))
    })
    let slot = (await readSlots(client, plan.serverVersionNum)).find((s) => s.name === source.slot)
    if (slot !== undefined && slot.active && takeover && slot.activeApplication === source.connection.applicationName) {
      // A previous inlet run (killed, or on a host that went away) whose walsender lingers.
      log.warn('slot.takeover', `Ending process ${slot.activePid} (${slot.activeApplication}), which holds slot ${source.slot}.`, { slot: source.slot, pid: slot.activePid })
      await client.query('SELECT pg_terminate_backend($1)', [slot.activePid])
      for (let i = 0; i < 100 && slot?.active === true; i++) {
        await new Promise((r) => setTimeout(r, 100))
        slot = (await readSlots(client, plan.serverVersionNum)).find((s) => s.name === source.slot)
      }
    }
    if (slot !== undefined && slot.active) {
      const ours = slot.activeApplication === source.connection.applicationName
      throw new InletError('INLET-S002', `The replication slot "${source.slot}" is in use by process ${slot.activePid ?? '?'}${slot.activeApplication ? ` (${slot.activeApplication})` : ''}.`, {
        fix: ours ? 'If that is a previous inlet run that no longer runs, take the slot over: inlet run --takeover' : `Stop the other consumer of the slot (process ${slot.activePid ?? '?'}), or give this source another slot: name.`,
      })
    }
    const confirmed = slot?.confirmedFlushLsn == null ? 0n : parseLsn(slot.confirmedFlushLsn)
    if (slot !== undefined && state !== undefined && state.checkpointLsn > 0n && confirmed > state.checkpointLsn) {
      if (!resync) {
        throw new InletError('INLET-S008', `The slot "${source.slot}" is at ${formatLsn(confirmed)}, past the destination's checkpoint ${formatLsn(state.checkpointLsn)}: it was recreated, or another consumer advanced it. The changes in between are not in the destination and the slot no longer has them.`, {
          fix: 'Copy every table again under a new slot (each stays readable until its new copy replaces it): inlet run --resync. Give each consumer its own slot.',
        })
      }
      await replication.dropSlot(source.slot)
      slot = undefined
    }
    if (slot !== undefined && state !== undefined && (slot.walStatus === 'lost' || slot.invalidationReason !== null)) {
      if (!resync) {
        throw slotInvalidated(source.slot, slot)
      }
      await replication.dropSlot(source.slot)
      slot = undefined
    }
    if (slot !== undefined && (slot.plugin !== 'pgoutput' || slot.database !== source.connection.database)) {
      throw new InletError('INLET-S004', `The slot "${source.slot}" exists but is not a pgoutput slot of ${source.connection.database} (plugin ${slot.plugin}, database ${slot.database}).`, { fix: 'Choose another slot: name, or drop it with inlet slots drop NAME if nothing uses it.' })
    }

    if (state === undefined) {
      // First run into this destination: start the slot fresh, at a snapshot we can copy under.
      if (slot !== undefined) {
        log.info('slot.recreate', `Recreating the unused slot ${source.slot} with an exported snapshot (the destination has no checkpoint for it yet).`, { slot: source.slot })
        await replication.dropSlot(source.slot)
      }
      const snapshotTime = await sourceClock(client)
      const created = await replication.createSlot(source.slot, { snapshot: 'export', failover: source.failover })
      log.info('slot.created', `Created slot ${source.slot} at ${formatLsn(created.consistentPoint)}.`, { slot: source.slot, lsn: formatLsn(created.consistentPoint) })
      // Everything before the consistent point is in the copy: the slot may never be found past it unseen.
      await destination.writeSource({ source: source.name, systemId: identity.systemId, slot: source.slot, checkpointLsn: created.consistentPoint })
      keepOpen = true
      return { targets: needCopy, created, snapshotTime, release: closeOnce(replication) }
    }
    if (slot === undefined && resync) {
      // The slot is gone with the changes it held: a new slot, and every table copied again beside
      // itself under its snapshot and swapped in (readable throughout), streaming from there.
      for (const t of plan.targets) await destination.requestRefresh(source.name, t.table.schema, t.table.name)
      const snapshotTime = await sourceClock(client)
      const created = await replication.createSlot(source.slot, { snapshot: 'export', failover: source.failover })
      log.info('slot.resync', `Recreated slot ${source.slot} at ${formatLsn(created.consistentPoint)}; copying every table again.`, { slot: source.slot, lsn: formatLsn(created.consistentPoint) })
      // Everything before the consistent point is in the copy: the slot may never be found past it unseen.
      await destination.writeSource({ source: source.name, systemId: identity.systemId, slot: source.slot, checkpointLsn: created.consistentPoint })
      keepOpen = true
      return { targets: plan.targets, created, snapshotTime, release: closeOnce(replication) }
    }
    if (slot === undefined) {
      throw new InletError('INLET-S006', `The slot "${source.slot}" no longer exists, but the destination has a checkpoint (${formatLsn(state.checkpointLsn)}) taken from it.`, {
        fix: 'The changes it held are lost on the server. Recreate the slot and copy every table again (each stays readable until its new copy replaces it): inlet run --resync',
      })
    }
    if (source.failover && !slot.failover) {
      if (plan.serverVersionNum < 170000) throw new InletError('INLET-C007', `failover: true for source "${source.name}" needs PostgreSQL 17 or later.`, { fix: 'Remove failover: true for this source.' })
      await replication.setFailover(source.slot)
      log.info('slot.failover', `Slot ${source.slot} is now a failover slot (failover: true).`, { slot: source.slot })
    }
    if (needCopy.length === 0) return { targets: [], created: undefined, snapshotTime: '', release: closeOnce(replication) }
    const snapshotTime = await sourceClock(client)
    const created = await replication.createSlot(temporarySlotName(), { snapshot: 'export', temporary: true })
    log.info('snapshot.slot', `Copying ${needCopy.length} table(s) under the snapshot of a temporary slot at ${formatLsn(created.consistentPoint)}.`, { lsn: formatLsn(created.consistentPoint) })
    keepOpen = true
    return { targets: needCopy, created, snapshotTime, release: closeOnce(replication) }
  } finally {
    if (!keepOpen) await replication.close()
  }
}

/** Ends the exporting connection once, however many paths release it. */
function closeOnce(replication: ReplicationConnection): () => Promise<void> {
  let closed: Promise<void> | undefined
  return () => (closed ??= replication.close())
}

/** INLET-S006 for a slot the server invalidated (wal_status lost), at start or while streaming. */
function slotInvalidated(name: string, slot: SlotFacts): InletError {
  return new InletError('INLET-S006', `The slot "${name}" was invalidated (${slot.invalidationReason ?? 'wal_status lost'}): the server removed WAL it still needed, so changes since ${slot.confirmedFlushLsn ?? 'its last position'} are gone.`, {
    fix: 'Recreate the slot and copy every table again (each stays readable until its new copy replaces it): inlet run --resync. To keep it from recurring, raise max_slot_wal_keep_size or keep inlet run going.',
  })
}

async function sourceClock(client: SqlClient): Promise<string> {
  const { rows } = await client.query<{ now: string }>('SELECT clock_timestamp()::text AS now')
  return rows[0]?.now as string
}

/**
 * A selected table whose name has no state but whose OID has one, under a name the source no
 * longer has, was renamed (while no run was streaming it, or before the checkpoint): it keeps its
 * destination table and state instead of being copied again.
 */
async function followRenames(plan: SourcePlan, destination: DuckDbDestination, source: ResolvedSource): Promise<SourcePlan> {
  const states = await destination.readTables(source.name)
  const named = new Set(states.map((s) => key(s.sourceSchema, s.sourceTable)))
  const current = new Set(plan.targets.map((t) => key(t.table.schema, t.table.name)))
  let changed = false
  const targets: TableTarget[] = []
  for (const t of plan.targets) {
    // Renamed before (its state already follows it): it keeps the destination it had, unless the
    // config names one for it.
    const followed = states.find((s) => s.sourceSchema === t.table.schema && s.sourceTable === t.table.name && s.sourceOid === t.table.oid)
    const explicit = source.tableOptions.some((o) => matchesPattern(o.pattern, t.table.schema, t.table.name) && (o.destName !== undefined || o.destSchema !== undefined))
    if (followed !== undefined && !explicit && (followed.destSchema !== t.destSchema || followed.destTable !== t.destName)) {
      targets.push({ ...t, destSchema: followed.destSchema, destName: followed.destTable })
      changed = true
      continue
    }
    const state = named.has(key(t.table.schema, t.table.name)) ? undefined : states.find((s) => s.sourceOid === t.table.oid && !current.has(key(s.sourceSchema, s.sourceTable)))
    if (state === undefined || state.phase !== 'streaming') {
      targets.push(t)
      continue
    }
    await destination.renameSource(state, t)
    targets.push({ ...t, destSchema: state.destSchema, destName: state.destTable })
    changed = true
  }
  // Tables streamed before and gone from the source now (dropped, or renamed out of the selection):
  // bound from their record so that the stream can apply their last changes and the drop.
  const targetOids = new Set(targets.map((t) => t.table.oid))
  for (const state of states) {
    if (state.phase !== 'streaming' || state.sourceOid === undefined || targetOids.has(state.sourceOid) || current.has(key(state.sourceSchema, state.sourceTable))) continue
    if (!state.columns.every((c) => c.source !== undefined)) continue // recorded before columns carried their source
    const columns = state.columns.map((c) => ({ name: c.name, source: c.source as SourceColumn, type: columnType(c.source as SourceColumn) }))
    const table: SourceTable = { oid: state.sourceOid, schema: state.sourceSchema, name: state.sourceTable, columns: columns.map((c) => c.source), key: state.columns.filter((c) => c.key === true).map((c) => c.name), replicaIdentity: 'd', heaps: [] }
    targets.push({ ...bindTarget(source.name, table, { scd: state.scd, destSchema: state.destSchema, destName: state.destTable }), columns })
    changed = true
  }
  if (!changed) return plan
  return { ...plan, targets, byRelation: relationIndex(targets) }
}

function sameBinding(state: TableState, target: TableTarget): boolean {
  return state.destSchema === target.destSchema && state.destTable === target.destName && state.scd === target.scd
}

async function copyTables(destination: DuckDbDestination, source: ResolvedSource, plan: SourcePlan, snapshot: PreparedSnapshot, options: RunOptions, log: Logger, live: SourceMonitor): Promise<number> {
  const created = snapshot.created as CreatedSlot
  const lsn = created.consistentPoint
  const { snapshotTime } = snapshot
  const existing = await destination.tableNames()
  const states = await destination.readTables(source.name)
  // A table asked to be refreshed is copied beside itself and swapped in once loaded: it stays
  // readable, whole, until then. `copies` maps each copy's target to the table it replaces.
  const copies = new Map<TableTarget, TableTarget>()
  const loadTargets: TableTarget[] = []
  for (const target of snapshot.targets) {
    const state = states.find((s) => s.sourceSchema === target.table.schema && s.sourceTable === target.table.name)
    if (state?.refreshRequested === true && state.phase === 'streaming' && sameBinding(state, target) && existing.has(key(target.destSchema, target.destName))) {
      const copy = besideCopy(target)
      await destination.createTable(copy)
      copies.set(copy, target)
      loadTargets.push(copy)
      continue
    }
    await destination.assertOwnable(target)
    await destination.createTable(target, 'snapshot', lsn)
    loadTargets.push(target)
  }
  log.info('snapshot.start', `Snapshot of ${snapshot.targets.length} table(s) at ${formatLsn(lsn)}.`, { tables: snapshot.targets.length, lsn: formatLsn(lsn) })
  let total = 0
  const started = Date.now()
  let released = false
  await destination.useThreadsFor('snapshot')
  try {
    await runSnapshot({
      settings: source.connection,
      snapshotName: created.snapshotName as string,
      serverVersionNum: plan.serverVersionNum,
      targets: loadTargets,
      workers: options.snapshotWorkers ?? 2,
      // A stop (or another source failing) ends the copy; its tables are copied again next run.
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      spoolDirectory: workDirectory(destination.path, 'snapshot', source.name, process.pid),
      onImported: async () => {
        released = true
        await snapshot.release()
      },
      loader: {
        load: (target, files) => destination.loadSnapshotFiles(target, files, lsn, snapshotTime),
        tableDone: async (target, rows) => {
          const replaces = copies.get(target)
          if (replaces !== undefined) {
            await options.onRefreshLoaded?.((sql) => destination.query(sql), `${replaces.destSchema}.${replaces.destName}`, `${target.destSchema}.${target.destName}`)
            await destination.swapIn(target, replaces, lsn, BigInt(rows))
            log.info('refresh.done', `Refreshed ${replaces.display}: ${rows} rows copied and swapped in.`, { table: replaces.display, rows })
          } else await destination.writeTable(target, 'streaming', lsn, BigInt(rows))
          total += rows
          const done = live.table((replaces ?? target).display, `${(replaces ?? target).destSchema}.${(replaces ?? target).destName}`)
          done.phase = 'streaming'
          done.copy = undefined
          log.info('snapshot.table', `Copied ${target.display}: ${rows} rows.`, { table: target.display, rows })
        },
      },
      onProgress: (progress) => {
        for (const p of progress) {
          if (p.finishedAt !== undefined) continue
          const base = copies.get(p.target) ?? p.target
          const t = live.table(base.display, `${base.destSchema}.${base.destName}`)
          t.phase = copies.has(p.target) ? 'refreshing' : 'snapshot'
          t.copy = { rowsCopied: p.rowsCopied, bytesCopied: p.bytesCopied, estimatedRows: p.estimatedRows }
        }
        log.status(progressLine(progress))
      },
    })
    // Compact the copy into the file with every core now, rather than at close with fewer.
    await destination.checkpoint()
  } finally {
    if (!released) await snapshot.release()
    await destination.useThreadsFor('stream')
  }
  const seconds = (Date.now() - started) / 1000
  log.info('snapshot.done', `Snapshot done: ${total} rows in ${seconds.toFixed(1)} s.`, { rows: total, seconds })
  return total
}

function progressLine(progress: readonly SnapshotProgress[]): string {
  const active = progress.filter((p) => p.finishedAt === undefined)
  const parts = active.slice(0, 3).map((p) => {
    const seconds = Math.max(0.001, (Date.now() - p.startedAt) / 1000)
    const rate = p.rowsCopied / seconds
    const eta = p.estimatedRows > p.rowsCopied && rate > 0 ? ` ETA ${Math.ceil((p.estimatedRows - p.rowsCopied) / rate)}s` : ''
    return `${p.target.display} ${formatCount(p.rowsCopied)} rows ${formatBytes(p.bytesCopied)} ${formatCount(Math.round(rate))}/s${eta}`
  })
  const done = progress.length - active.length
  return `snapshot ${done}/${progress.length} tables done · ${parts.join(' · ')}`
}

/** How often a streaming run reads its slot's retained WAL and status. */
const SLOT_CHECK_MS = 15_000

/** Prefix of the heartbeat messages (`heartbeat_seconds`). */
export const HEARTBEAT_PREFIX = 'inlet.heartbeat'

/** How often an idle stream records (and then confirms) the server's position. */
const IDLE_CHECKPOINT_MS = 1_000

/** How often a streaming run looks for tables newly in its publication that no row has shown yet. */
const PUBLICATION_CHECK_MS = 5_000

/** Prefix of the logical decoding message by which `inlet refresh` reaches a running `inlet run`. */
export const REFRESH_MESSAGE_PREFIX = 'inlet.refresh'

async function streamChanges(client: SqlClient, destination: DuckDbDestination, source: ResolvedSource, plan: SourcePlan, states: ReadonlyMap<string, TableState>, options: RunOptions, log: Logger, live: SourceMonitor): Promise<Omit<RunResult, 'snapshotTables' | 'snapshotRows' | 'checkpoints'>> {
  const limits = { ...DEFAULT_BATCH, ...options.batch }
  const state = await destination.readSource(source.name)
  const checkpoint = state?.checkpointLsn ?? 0n
  const target = options.once === true ? parseLsn((await client.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn')).rows[0]?.lsn ?? '0/0') : undefined

  const bindings = new Map<Relation, Binding>()
  // The planned tables, and those that appear while streaming.
  const targets = [...plan.targets]
  // Relation names → planned tables; renames, drops and new tables seen in the stream update it.
  const byRelation = new Map(plan.byRelation)
  // Relations seen in the stream that the selection leaves out.
  const unselected = new Set<string>()
  const droppedTables = new Set<TableTarget>()
  const droppedNames = new Set<string>()
  const snapshotLsnOf = new Map(plan.targets.map((t) => [t, states.get(key(t.table.schema, t.table.name))?.snapshotLsn ?? 0n]))
  // Per planned table, its changes and (as `target`) its binding as schema changes evolved it.
  const changes = new Map<TableTarget, TableChanges>()
  const tableChanges = (t: TableTarget) => {
    let c = changes.get(t)
    if (c === undefined) changes.set(t, (c = new TableChanges(t)))
    return c
  }
  /** The relation's column map onto the table's current binding (recomputed after a schema change). */
  const bind = (relation: Relation, base: TableTarget): Binding => {
    const current = tableChanges(base).target
    let b = bindings.get(relation)
    if (b === undefined || b.target !== current) bindings.set(relation, (b = bindRelation(current, relation)))
    return b
  }

  // dropped_columns: drop. DuckDB commits no ALTER after a DELETE on the same table in one
  // transaction, so a column dropped in a batch is dropped first thing in the next one (and, after a
  // stop or crash in between, at the next start).
  const dropColumns = options.config.droppedColumns === 'drop'
  const dropsPending = new Map<TableTarget, Set<string>>()
  const dropLater = (base: TableTarget, change: SchemaChange) => {
    if (!dropColumns || change.dropped.length === 0) return
    const set = dropsPending.get(base) ?? new Set<string>()
    for (const name of change.dropped) set.add(name)
    dropsPending.set(base, set)
  }

  const liveTable = (t: TableTarget) => live.table(t.display, `${t.destSchema}.${t.destName}`)
  for (const t of plan.targets) liveTable(t).phase = 'streaming'
  // Per table in the pending batch: changes by kind and the last commit time (for status and metrics).
  let pendingCounts = new Map<TableTarget, { kinds: Record<ChangeKind, number>; time: number }>()
  const count = (base: TableTarget, kind: ChangeKind) => {
    let c = pendingCounts.get(base)
    if (c === undefined) pendingCounts.set(base, (c = { kinds: { insert: 0, update: 0, delete: 0, truncate: 0 }, time: 0 }))
    c.kinds[kind]++
    c.time = txn?.time ?? c.time
  }
  // Tables being copied again while the others stream (refresh, or a change that needs a copy).
  const copies = new Map<TableTarget, BackgroundCopy>()
  // Copies taken for a swap, until the batch that swaps them in has committed.
  const swapping = new Map<TableTarget, Promise<void>>()
  const autoRefreshes = (t: TableTarget) => options.config.autoRefresh === 'all' || (options.config.autoRefresh === 'scd1' && t.scd === 1)
  const startCopy = (base: TableTarget, why: string, event = 'refresh.begin') => {
    const previous = copies.get(base)
    previous?.cancel()
    const copy = new BackgroundCopy({ base, previous: previous?.done ?? swapping.get(base), begunAfter: txn?.finalLsn ?? lastBegin, source, defaultScd: options.config.scd, destination, workers: options.snapshotWorkers ?? 2, log, onLoaded: options.onRefreshLoaded, onProgress: (p) => (liveTable(base).copy = p) })
    copies.set(base, copy)
    liveTable(base).phase = 'refreshing'
    copy.done.catch((error: unknown) => {
      if (copies.get(base) === copy) failure ??= { error }
    })
    // Durable before any checkpoint past this point: a crash leaves the next run to copy it.
    void enqueue(async () => void (await destination.requestRefresh(source.name, base.table.schema, base.table.name)))
    if (event === 'table.new') log.info(event, `${why} Copying it while the other tables stream.`, { table: base.display })
    else log.warn(event, `${why} Copying ${base.display} again while the other tables stream.`, { table: base.display })
  }

  // The catalog may be ahead of the stream (columns added or widened after the checkpoint): a
  // table streams with the columns its destination has, widened now where the catalog's type is
  // wider; the stream's Relation messages bring the rest in order.
  // Copies a stop or crash interrupted left beside their tables (those still needed start again below).
  const names = await destination.tableNames()
  for (const t of plan.targets) {
    const copy = besideCopy(t)
    if (names.has(key(copy.destSchema, copy.destName))) await destination.dropTable(copy)
  }
  // A type the destination cannot hold, changed in the source after the checkpoint: the table is
  // copied again beside the stream (its stream position is past the change's Relation message
  // only in the catalog, so the stream alone would not tell).
  const copyAtStart = new Map<TableTarget, string>()
  for (const t of plan.targets) {
    const have = await destination.columnTypes(t)
    if (have.size === 0) continue
    for (const c of t.columns) {
      const now = have.get(c.name)
      if (now === undefined || now === (await destination.typeName(c.type.duckType))) continue
      if (widens(now, c.type.duckType)) await destination.widenColumn(t, c)
      else if (!widens(c.type.duckType, now)) copyAtStart.set(t, `${t.display}.${c.name} changed type in the source (now ${c.type.duckType}), which the destination's ${now} cannot hold in place.`)
      // else a narrower source type is written into the wider column
    }
    // The key the table was streamed under (the catalog may show a newer one, whose DDL the stream
    // has yet to deliver).
    const recordedKey = (states.get(key(t.table.schema, t.table.name))?.columns ?? []).filter((r) => r.key === true && r.attnum !== undefined).map((r) => r.attnum as number)
    const keyNow = t.key.map((i) => t.columns[i]?.source.attnum ?? 0)
    if (recordedKey.length > 0 && recordedKey.join(',') !== keyNow.join(',') && recordedKey.every((a) => t.columns.some((c) => c.source.attnum === a))) {
      const keyed = { ...t, key: recordedKey.map((a) => t.columns.findIndex((c) => c.source.attnum === a)) }
      tableChanges(t).target = keyed
    }
    if (t.columns.every((c) => have.has(c.name))) continue
    // A column renamed in the source since keeps its destination name (by the attnum recorded),
    // so that the audit row of the rename is applied as one.
    const recorded = states.get(key(t.table.schema, t.table.name))?.columns ?? []
    const columns = t.columns.flatMap((c) => {
      if (have.has(c.name)) return [c]
      const was = recorded.find((r) => r.attnum !== undefined && r.attnum === c.source.attnum && have.has(r.name))
      return was === undefined ? [] : [{ ...c, name: was.name, source: { ...c.source, name: was.name } }]
    })
    const streamed = tableChanges(t).target
    const keyNames = streamed.key.map((i) => {
      const c = streamed.columns[i]
      return columns.find((x) => x.source.attnum === c?.source.attnum)?.name
    })
    tableChanges(t).target = { ...t, columns, key: keyNames.map((n) => columns.findIndex((c) => c.name === n)) }
  }
  if (dropColumns) {
    // Columns the source dropped while no batch could drop them (a stop or crash came first).
    const meta = new Set([LSN_COLUMN, SYNCED_COLUMN, START_COLUMN, END_COLUMN])
    for (const t of plan.targets) {
      const streamed = tableChanges(t).target
      const gone = [...(await destination.columnTypes(t)).keys()].filter((n) => !meta.has(n) && !streamed.columns.some((c) => c.name === n))
      if (gone.length > 0) await destination.dropColumns(t, gone)
    }
  }
  /** A row of the DDL tracking script's audit table: the DDL itself, at its place in the stream. */
  const onAudit = async (row: AuditRow) => {
    if (txn === undefined) return
    const base = targets.find((t) => t.table.oid === row.objectOid || t.table.heaps.some((h) => h.oid === row.objectOid))
    if (base === undefined || droppedTables.has(base) || txn.finalLsn < (snapshotLsnOf.get(base) ?? 0n)) return
    const c = tableChanges(base)
    const copy = copies.get(base)
    const tableDropped = row.event === 'sql_drop' && row.objectType === 'table'
    if (copy !== undefined && !tableDropped) {
      // DDL on a table being copied: the copy may not have it; copy again after it.
      if (copy.mayMiss(txn.finalLsn)) startCopy(base, `${base.display} changed (${row.commandTag ?? row.event}) during its copy.`)
      return
    }
    if (copy !== undefined) {
      copy.cancel()
      copies.delete(base)
    }
    if (row.event === 'table_rewrite') {
      // A rewrite keeps values unless a USING expression or a volatile default computes new ones.
      const reason = Number(row.detail?.reason ?? 0)
      if ((reason & 2) !== 0 || /\bUSING\b/i.test(row.command ?? '')) {
        throw new RefreshNeeded(base, `${base.display} was rewritten by ${row.commandTag} (${(reason & 2) !== 0 ? 'a column added with a volatile default' : 'ALTER COLUMN TYPE ... USING'}): its rows changed without row events.`)
      }
      return
    }
    if (row.event === 'sql_drop' && row.objectType === 'table') {
      c.dropTable()
      droppedTables.add(base)
      liveTable(base).phase = 'dropped'
      pendingChanges++
      for (const [name, t] of byRelation) if (t === base) {
        byRelation.delete(name)
        droppedNames.add(name)
      }
      log.info('schema.drop', `${base.display} was dropped in the source; ${base.destSchema}.${base.destName} is kept and marked dropped.`, { table: base.display })
      return
    }
    if (row.event !== 'ddl_command_end' || (row.objectType !== 'table' && row.objectType !== 'table column') || row.columns === undefined) return
    const identity = row.objectIdentity === null ? undefined : splitIdentity(row.objectIdentity)
    if (identity !== undefined && byRelation.get(key(...identity)) !== base) {
      byRelation.set(key(...identity), base)
      log.info('schema.rename', `${base.display} is now ${row.objectIdentity}; it keeps streaming into ${base.destSchema}.${base.destName}.`, { table: base.display, now: row.objectIdentity })
    }
    // A new primary key identifies rows differently: the table is copied again under it.
    const keyAttnums = c.target.key.map((i) => c.target.columns[i]?.source.attnum ?? 0)
    if (row.primaryKey !== undefined && c.target.table.replicaIdentity === 'd' && row.primaryKey.join(',') !== keyAttnums.join(',') && keyAttnums.every((a) => a > 0)) {
      throw new RefreshNeeded(base, `The primary key of ${base.display} changed (now attnums ${row.primaryKey.join(', ') || 'none'}).`)
    }
    if (!columnsDiffer(c.target, row.columns)) return
    const change = await evolveTarget(client, c.target, row.objectOid, row.columns)
    c.alter(change)
    dropLater(base, change)
    pendingChanges++
    log.info('schema.change', `Schema of ${base.display} changed: ${describeChange(change)}.`, { table: base.display })
  }
  /**
   * A relation the plan does not know: a table renamed (same OID), a new partition of a streamed
   * table, or a table created or newly published that the selection takes, which is copied beside
   * the stream (its rows until the copy's snapshot are in the copy, later ones are held for it).
   */
  const adopt = async (schema: string, table: string, oid: number) => {
    const name = key(schema, table)
    const known = targets.find((t) => t.table.oid === oid || t.table.heaps.some((h) => h.oid === oid))
    if (known !== undefined) {
      byRelation.set(name, known)
      if (oid === known.table.oid) log.info('schema.rename', `${known.display} is now ${schema}.${table}; it keeps streaming into ${known.destSchema}.${known.destName}.`, { table: known.display })
      return
    }
    const fresh = await planSource(client, source, options.config.scd)
    const found = fresh.byRelation.get(name)
    const parent = found === undefined ? undefined : targets.find((t) => t.table.oid === found.table.oid)
    if (found === undefined) return void unselected.add(name)
    if (parent !== undefined) return void byRelation.set(name, parent)
    // (In the chain: the destination's connection is the batches'.)
    await enqueue(() => destination.assertOwnable(found))
    targets.push(found)
    for (const [n, t] of fresh.byRelation) if (t === found) byRelation.set(n, found)
    snapshotLsnOf.set(found, 0n)
    startCopy(found, `${found.display} appeared in the stream (created or published).`, 'table.new')
  }
  /**
   * A table added to the publication (or created under FOR ALL TABLES / TABLES IN SCHEMA) shows in
   * the stream only with its first row; the publication is read every few seconds so that one that
   * stays unchanged is copied too.
   */
  let lastPublicationCheck = Date.now()
  const checkPublication = async () => {
    lastPublicationCheck = Date.now()
    // OIDs from the catalog by name (to_regclass would need USAGE on every published schema, which
    // the replication user lacks for the DDL audit table's).
    const { rows } = await client.query<{ schema: string; name: string; oid: number | null }>(
      `SELECT p.schemaname AS schema, p.tablename AS name, c.oid::int AS oid FROM pg_publication_tables p ` +
        `LEFT JOIN pg_namespace n ON n.nspname = p.schemaname LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = p.tablename WHERE p.pubname = $1`,
      [source.publication],
    )
    for (const r of rows) {
      const name = key(r.schema, r.name)
      // (A table dropped since the list was read has no OID any more.)
      if (r.oid !== null && !byRelation.has(name) && !unselected.has(name) && !droppedNames.has(name)) await adopt(r.schema, r.name, r.oid)
    }
  }
  // The slot's health: WAL it retains, how much more the server allows (max_slot_wal_keep_size).
  let lastSlotCheck = 0
  let lastWalWarning = 0
  const checkSlot = async () => {
    lastSlotCheck = Date.now()
    const slot = (await readSlots(client, plan.serverVersionNum)).find((s) => s.name === source.slot)
    const { rows } = await client.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')
    live.recordSlot(slot, parseLsn(rows[0]?.lsn ?? '0/0'))
    if (slot === undefined) return
    if (slot.walStatus === 'lost') {
      throw slotInvalidated(source.slot, slot)
    }
    const retained = slot.retainedBytes ?? 0
    live.walWarning = walWarning(slot, options.config.retainedWalWarningBytes)
    if (live.walWarning && Date.now() - lastWalWarning >= 60_000) {
      lastWalWarning = Date.now()
      log.warn('slot.wal', `Slot ${source.slot} retains ${formatBytes(retained)} of WAL (wal_status ${slot.walStatus ?? '?'}${slot.safeWalSize === null ? '' : `, ${formatBytes(Math.max(0, slot.safeWalSize))} more before the server invalidates it`}).`, {
        slot: source.slot,
        retainedBytes: retained,
        safeWalSize: slot.safeWalSize,
        walStatus: slot.walStatus,
      })
    }
  }
  const heartbeatMs = (options.config.heartbeatSeconds ?? 0) * 1000
  let lastHeartbeat = Date.now()
  /** A Relation message: when the table's columns changed, the change goes into the batch in order. */
  const onRelation = async (relation: Relation) => {
    const name = key(relation.schema, relation.name)
    if (!byRelation.has(name) && !isAuditRelation(relation) && !unselected.has(name) && !droppedNames.has(name)) await adopt(relation.schema, relation.name, relation.id)
    const base = byRelation.get(name)
    if (base === undefined || txn === undefined || txn.finalLsn < (snapshotLsnOf.get(base) ?? 0n)) return
    const copy = copies.get(base)
    if (copy !== undefined) return copy.relation(relation, txn.finalLsn)
    const c = tableChanges(base)
    // A new primary key (replica identity DEFAULT) identifies rows differently: a new copy, keyed by it.
    const newKey = keyChanged(c.target, relation)
    if (newKey !== undefined) throw new RefreshNeeded(base, `The primary key of ${base.display} changed (now ${newKey.join(', ')}).`)
    const state = relationColumns(relation)
    if (!columnsDiffer(c.target, state)) return
    const change = await evolveTarget(client, c.target, relation.id, state)
    c.alter(change)
    dropLater(base, change)
    pendingChanges++
    log.info('schema.change', `Schema of ${base.display} changed: ${describeChange(change)}.`, {
      table: base.display,
      added: change.added.map((a) => a.column.name).join(','),
      dropped: change.dropped.join(','),
      retyped: change.retyped.map((r) => r.column.name).join(','),
    })
  }

  let txn: { finalLsn: Lsn; commit: ChangeCommit; time: number } | undefined
  // The commit LSN of the last transaction begun in the stream.
  let lastBegin: Lsn = checkpoint
  let pendingCommit: { endLsn: Lsn; time: number } | undefined
  let pendingSince = 0
  let firstCommitTime = 0
  let pendingTransactions = 0
  let pendingChanges = 0
  let pendingBytes = 0
  let totals = { transactions: 0, changes: 0 }
  let lastCheckpoint = checkpoint
  let committedBatches = 0

  // Batches are applied while the next one is read and coalesced: DuckDB works on its own threads,
  // so decoding (JavaScript) and applying overlap. At most one batch applies while one fills; the
  // chain keeps them in order and an LSN is confirmed only after its batch's COMMIT.
  let applying: Promise<void> = Promise.resolve()
  let failure: { error: unknown } | undefined
  const drainChanges = (except: ReadonlySet<TableTarget> = new Set()) =>
    [...changes].filter(([base, c]) => !c.empty && !except.has(base)).map(([, c]) => ({ target: c.target, segments: c.drain() }))
  /** Loaded copies leave the stream's hands: their held changes go with the swap, later ones to the new table. */
  const takeLoadedCopies = () =>
    [...copies.values()].filter((copy) => copy.loaded && !copy.stale).map((copy) => {
      copies.delete(copy.base)
      // The table's changes still pending for the old table are in the copy (they precede C).
      tableChanges(copy.base).drain()
      const final = copy.final as TableTarget
      tableChanges(copy.base).target = final
      snapshotLsnOf.set(copy.base, copy.snapshotLsn as Lsn)
      return { copy, final, segments: (copy.changes as TableChanges).drain() }
    })
  const enqueue = (work: () => Promise<void>): Promise<void> => {
    applying = applying.then(work)
    applying.catch((error: unknown) => (failure ??= { error }))
    return applying
  }
  // Drops of columns whose DDL is in a batch already applied: first in the next one.
  let dropsDue = new Map<TableTarget, Set<string>>()
  const flush = (): Promise<void> => {
    const swaps = takeLoadedCopies()
    if (pendingCommit === undefined && swaps.length === 0 && dropsDue.size === 0) return applying
    const drops = [...dropsDue].map(([base, names]) => ({ base, target: tableChanges(base).target, names: [...names] }))
    dropsDue = new Map(dropsPending)
    dropsPending.clear()
    const work = drainChanges()
    const batch = pendingCommit === undefined ? undefined : { commit: pendingCommit, transactions: pendingTransactions, changes: pendingChanges, firstCommitTime, counts: pendingCounts }
    pendingCounts = new Map()
    pendingCommit = undefined
    pendingTransactions = 0
    pendingChanges = 0
    pendingBytes = 0
    const applied = enqueue(async () => {
      const started = performance.now()
      // A spill opened this transaction with DELETEs: column drops wait for a transaction of their own.
      if (destination.transactionOpen) {
        for (const d of drops.splice(0)) dropsDue.set(d.base, new Set([...(dropsDue.get(d.base) ?? []), ...d.names]))
      }
      await destination.begin()
      try {
        for (const d of drops) await destination.dropColumns(d.target, d.names)
        // Swaps first: DuckDB commits no ALTER (the rename) after a DELETE on the same table.
        for (const { copy, final, segments } of swaps) {
          await destination.swapIn(copy.into, final, copy.snapshotLsn as Lsn, BigInt(copy.rows))
          if (segments.length > 0) await destination.applySegments(final, segments)
        }
        for (const w of work) await destination.applySegments(w.target, w.segments)
        if (batch !== undefined) {
          await destination.writeCommitTimes(source.name, [...batch.counts].map(([t, c]) => ({ schema: t.table.schema, table: t.table.name, commitTime: microsToTimestamp(c.time) })))
          await destination.writeCheckpoint(source.name, batch.commit.endLsn, microsToTimestamp(batch.commit.time))
        }
        await destination.commit()
      } catch (error) {
        await destination.rollback()
        throw batchWriteError(error)
      }
      for (const { copy } of swaps) Object.assign(liveTable(copy.base), { phase: 'streaming', copy: undefined })
      for (const { copy } of swaps) log.info('refresh.done', `Copied ${copy.base.display} beside the stream: ${copy.rows} rows, then the changes since; it streams on.`, { table: copy.base.display, rows: copy.rows })
      if (batch === undefined) return
      // Fault injection for the crash test: die between the destination commit and the ack.
      if (KILL_AFTER_COMMIT > 0 && ++committedBatches === KILL_AFTER_COMMIT) process.kill(process.pid, 'SIGKILL')
      stream.confirm(batch.commit.endLsn)
      lastCheckpoint = batch.commit.endLsn
      totals = { transactions: totals.transactions + batch.transactions, changes: totals.changes + batch.changes }
      const applySeconds = (performance.now() - started) / 1000
      live.recordBatch(applySeconds)
      live.checkpoint = batch.commit.endLsn
      live.lastCommitTime = batch.commit.time
      live.oldestPendingCommit = pendingCommit === undefined ? undefined : firstCommitTime
      for (const [t, c] of batch.counts) {
        const lt = liveTable(t)
        for (const kind of ['insert', 'update', 'delete', 'truncate'] as const) lt.applied[kind] += c.kinds[kind]
        lt.lastCommitTime = c.time
      }
      options.onBatch?.({ source: source.name, checkpoint: batch.commit.endLsn, transactions: batch.transactions, changes: batch.changes, applyMs: performance.now() - started, firstCommitTime: batch.firstCommitTime, lastCommitTime: batch.commit.time })
    })
    for (const { copy } of swaps) {
      const done = applied.catch(() => undefined)
      swapping.set(copy.base, done)
      void done.then(() => swapping.get(copy.base) === done && swapping.delete(copy.base))
    }
    return applied
  }
  /** Within a huge transaction: apply what is held so far inside the still-open destination transaction. */
  const spill = (): Promise<void> => {
    const work = drainChanges()
    pendingBytes = 0
    return enqueue(async () => {
      await destination.begin()
      try {
        for (const w of work) await destination.applySegments(w.target, w.segments)
      } catch (error) {
        throw batchWriteError(error)
      }
    })
  }

  const handle = (event: StreamEvent) => {
    switch (event.kind) {
      case 'begin':
        // Versions and _inlet_lsn carry the commit record's LSN and time, known from Begin on.
        txn = { finalLsn: event.finalLsn, commit: { lsn: event.finalLsn.toString(), ts: microsToTimestamp(event.commitTime) }, time: event.commitTime }
        lastBegin = event.finalLsn
        return
      case 'insert':
      case 'update':
      case 'delete': {
        const base = byRelation.get(key(event.relation.schema, event.relation.name))
        if (base === undefined || txn === undefined || txn.finalLsn < (snapshotLsnOf.get(base) ?? 0n)) return
        const copy = copies.get(base)
        if (copy !== undefined) return copy.add(event, txn.finalLsn, txn.commit)
        const c = tableChanges(base)
        const before = c.bytes
        addRowChange(c, bind(event.relation, base), event, txn.commit)
        count(base, event.kind)
        pendingChanges++
        pendingBytes += c.bytes - before
        return
      }
      case 'truncate': {
        if (txn === undefined) return
        for (const relation of event.relations) {
          const base = byRelation.get(key(relation.schema, relation.name))
          if (base === undefined || txn.finalLsn < (snapshotLsnOf.get(base) ?? 0n)) continue
          const copy = copies.get(base)
          if (copy !== undefined) copy.add('truncate', txn.finalLsn, txn.commit)
          else tableChanges(base).truncate(txn.commit)
          count(base, 'truncate')
          pendingChanges++
        }
        return
      }
      case 'commit': {
        txn = undefined
        if (pendingCommit === undefined) {
          pendingSince = Date.now()
          firstCommitTime = event.commitTime
          live.oldestPendingCommit ??= event.commitTime
        }
        pendingCommit = { endLsn: event.endLsn, time: event.commitTime }
        pendingTransactions++
        return
      }
      default:
        return
    }
  }

  /** `inlet refresh` while this run holds the destination: the request comes through the WAL. */
  const onRefreshMessage = (content: Buffer) => {
    let request: { slot?: unknown; refresh?: unknown } | undefined
    try {
      request = JSON.parse(content.toString('utf8')) as { slot?: unknown; refresh?: unknown }
    } catch {
      request = undefined
    }
    // Every slot of the database sees the message: it is for the run reading this one.
    if (request?.slot !== source.slot && request !== undefined) return
    const names = request?.refresh
    if (!Array.isArray(names)) return log.warn('refresh.message', `Ignored a malformed ${REFRESH_MESSAGE_PREFIX} message.`)
    for (const name of names) onRefreshRequest(name)
  }
  const onRefreshRequest = (name: unknown) => {
    const base = Array.isArray(name) && name.length === 2 ? byRelation.get(key(String(name[0]), String(name[1]))) : undefined
    if (base === undefined || droppedTables.has(base)) log.warn('refresh.message', `Ignored a refresh request for ${JSON.stringify(name)}: not a table this run streams.`)
    else startCopy(base, `Refresh of ${base.display} requested.`)
  }
  // Opened last, so that nothing before can leave the slot held by a connection no one closes.
  const replication = await ReplicationConnection.open(source.connection)
  // Idle positions are confirmed only once recorded as the checkpoint (below), so that the slot is
  // never ahead of the destination: a slot found ahead was recreated or moved by someone else.
  const stream = await replication.startStreaming({ slot: source.slot, publications: [source.publication], resumeLsn: checkpoint, confirmIdle: false, spoolDirectory: workDirectory(destination.path, 'spool', source.name) })
  live.phase = 'streaming'
  live.checkpoint = checkpoint
  live.lastCommitTime ??= state?.checkpointCommitTime == null ? undefined : parsePgTime(state.checkpointCommitTime) * 1000
  log.info('stream.start', `Streaming from ${source.slot} after ${formatLsn(checkpoint)}${target === undefined ? '' : ` until ${formatLsn(target)}`}.`, { slot: source.slot, checkpoint: formatLsn(checkpoint) })
  let stopping = false
  const onAbort = () => (stopping = true)
  options.signal?.addEventListener('abort', onAbort)
  let lastKeepaliveRequest = 0
  let lastIdleCheckpoint = 0
  try {
    // Tables marked for a refresh (by inlet refresh, or a copy a stop or crash interrupted).
    for (const t of plan.targets) {
      const s = states.get(key(t.table.schema, t.table.name))
      const marked = s?.refreshRequested === true && s.phase === 'streaming'
      const incompatible = copyAtStart.get(t)
      if (incompatible !== undefined && !marked && !autoRefreshes(t)) throw new RefreshNeeded(t, incompatible)
      if (incompatible !== undefined || marked) startCopy(t, incompatible ?? `${t.display} is marked for a refresh.`)
    }
    let pending: Promise<IteratorResult<StreamEvent[]>> | undefined
    for (;;) {
      if (failure !== undefined) throw failure.error
      if (stopping) break
      if (Date.now() - lastPublicationCheck >= PUBLICATION_CHECK_MS) await checkPublication()
      if (Date.now() - lastSlotCheck >= SLOT_CHECK_MS) await checkSlot()
      if (heartbeatMs > 0 && Date.now() - lastHeartbeat >= heartbeatMs) {
        lastHeartbeat = Date.now()
        await client.query(`SELECT pg_logical_emit_message(false, $1, now()::text)`, [HEARTBEAT_PREFIX])
      }
      for (const copy of copies.values()) {
        if (copy.stale) startCopy(copy.base, `${copy.base.display} changed shape after its copy began.`)
        else if (copy.gone) {
          // The table left the source or the selection before its copy could begin: nothing to copy.
          copies.delete(copy.base)
          void enqueue(async () => void (await destination.requestRefresh(source.name, copy.base.table.schema, copy.base.table.name, false)))
          log.warn('refresh.skip', `${copy.base.display} is no longer in the source's publication or the selection; not copied.`, { table: copy.base.display })
        }
      }
      if (stream.serverLsn > live.serverLsn) live.serverLsn = stream.serverLsn
      // inlet refresh through the run's local API.
      for (const [schema, name] of live.refreshRequests.splice(0)) onRefreshRequest([schema, name])
      pending ??= stream.next()
      const age = pendingCommit === undefined ? Infinity : Date.now() - pendingSince
      const wait = pendingCommit === undefined ? 200 : Math.max(0, limits.minLatencyMs - age)
      const result = await Promise.race([pending, new Promise<'quiet'>((r) => setTimeout(() => r('quiet'), wait))])
      if (result === 'quiet') {
        // Nothing more arrived for a moment: apply what is pending (and swap in loaded copies).
        // (Never in the middle of a transaction: its changes so far would commit under the previous checkpoint.)
        if (txn === undefined && (pendingCommit !== undefined || dropsDue.size > 0 || [...copies.values()].some((c) => c.loaded))) await flush()
        else if (txn === undefined && pendingCommit === undefined && stream.drainedLsn > lastCheckpoint && Date.now() - lastIdleCheckpoint >= IDLE_CHECKPOINT_MS) {
          // Nothing of ours in the WAL since the checkpoint (an idle source, or WAL of other tables
          // and databases): record the position, then confirm it, so the slot retains no WAL for it.
          lastIdleCheckpoint = Date.now()
          const drained = stream.drainedLsn
          await enqueue(async () => {
            await destination.writeCheckpoint(source.name, drained, null).catch((error: unknown) => {
              throw batchWriteError(error)
            })
            stream.confirmDrained(drained)
            lastCheckpoint = drained
            live.checkpoint = drained
          })
        }
        if (txn === undefined && pendingCommit === undefined && target !== undefined && copies.size === 0 && (stream.drainedLsn >= target || lastCheckpoint >= target)) break
        // Idle: ask the server where it is (a keepalive), to end --once or record an idle checkpoint.
        if (txn === undefined && pendingCommit === undefined && Date.now() - lastKeepaliveRequest > (target === undefined ? IDLE_CHECKPOINT_MS : 100)) {
          stream.sendStatus(true)
          lastKeepaliveRequest = Date.now()
        }
        continue
      }
      pending = undefined
      if (result.done === true) break
      for (const event of result.value) {
        try {
          if (event.kind === 'relation') await onRelation(event.relation)
          else if (event.kind === 'insert' && isAuditRelation(event.relation)) await onAudit(parseAuditRow(event.relation, event.newTuple))
        } catch (error) {
          // A change the destination cannot follow in place: copy that table again, the others stream on.
          const base = error instanceof RefreshNeeded ? targets.find((t) => t.table.oid === error.target.table.oid) : undefined
          if (base === undefined || !autoRefreshes(base)) throw error
          startCopy(base, `${error instanceof Error ? error.message : String(error)}`)
        }
        if (event.kind === 'message' && event.prefix === REFRESH_MESSAGE_PREFIX) onRefreshMessage(event.content)
        handle(event)
        if (event.kind === 'commit') {
          if (pendingChanges >= limits.maxChanges || pendingBytes >= limits.maxBytes || Date.now() - pendingSince >= limits.maxLatencyMs) {
            await applying // the previous batch: one applies while this one fills, no more
            void flush()
          }
        } else if (txn !== undefined && pendingBytes > limits.maxBytes) await spill()
      }
      // Decoded events resolve as microtasks, which would starve the I/O callbacks that carry the
      // applying batch's statement completions (and socket reads): let them run between arrays.
      await new Promise((resolve) => setImmediate(resolve))
    }
    // Stopping: commit the transactions already complete (and the column drops they brought); a
    // partial one is dropped and re-read next run.
    if (txn === undefined) {
      await flush()
      if (dropsDue.size > 0) await flush()
    }
    else {
      await applying
      await destination.rollback()
    }
  } finally {
    // Copies not swapped in are abandoned; their tables stay marked for the next run.
    for (const copy of copies.values()) copy.cancel()
    await Promise.all([...copies.values()].map((c) => c.done.catch(() => undefined)))
    await applying.catch(() => undefined)
    options.signal?.removeEventListener('abort', onAbort)
    await stream.close()
  }
  log.info('stream.stop', `Stopped at checkpoint ${formatLsn(lastCheckpoint)}: ${totals.transactions} transactions, ${totals.changes} changes applied.`, { checkpoint: formatLsn(lastCheckpoint), ...totals })
  return { ...totals, checkpoint: lastCheckpoint }
}

function describeChange(change: SchemaChange): string {
  return [
    ...change.added.map((a) => `added ${a.column.name} ${a.column.type.duckType}${a.fill === null ? '' : ' (existing rows filled)'}`),
    ...change.dropped.map((d) => `dropped ${d} (kept, NULL from now on)`),
    ...change.retyped.map((r) => `${r.column.name} ${r.from.duckType} -> ${r.column.type.duckType}${r.widen ? ' (widened)' : ''}`),
    ...change.renamed.map((r) => `renamed ${r.from} to ${r.to}`),
  ].join(', ')
}

/** Microseconds since 1970 → `YYYY-MM-DD HH:MM:SS.ffffff+00`. */
export function microsToTimestamp(micros: number): string {
  const ms = Math.floor(micros / 1000)
  const rest = String(micros - ms * 1000).padStart(3, '0')
  return `${new Date(ms).toISOString().slice(0, 23).replace('T', ' ')}${rest}+00`
}
