/**
 * The streaming loop of one source: reads the slot, dispatches each event to the room that owns
 * it, and decides when the pending batch commits (full, old enough, or the stream went quiet) and
 * when a transaction too large for memory is staged piece by piece.
 *
 *   slot ─▶ ReplicationStream ─▶ loop ─┬─ Relation, audit rows ─▶ SchemaEvents ─┐
 *                                      ├─ rows, truncates ─▶ TableRouter ──────┼─▶ PendingChanges ─▶ Committer ─▶ destination
 *                                      ├─ a copied table's rows ─▶ CopiesInFlight (held, swapped in by a batch)
 *                                      └─ every few seconds ─▶ SourceChecks (publication, slot, heartbeat)
 */
import type { ResolvedConfig, ResolvedSource } from '../../config/load.js'
import type { Destination, DestinationCapabilities } from '../../destination/destination.js'
import type { TableState } from '../../model/state.js'
import type { ChangeCommit } from '../../model/change-set.js'
import type { TableTarget } from '../../model/table-binding.js'
import { formatLsn, parseLsn, type Lsn } from '../../protocol/lsn.js'
import type { Logger } from '../../observability/log.js'
import type { SourceMonitor } from '../../observability/run-monitor.js'
import type { SqlClient } from '../../postgres/connect.js'
import { parsePgTime } from '../../postgres/sql-text.js'
import { key } from '../../source/selection.js'
import { ReplicationConnection } from '../../source/stream/replication-connection.js'
import type { ReplicationStream } from '../../source/stream/replication-stream.js'
import type { StreamEvent } from '../../source/stream/stream-events.js'
import { isAuditRelation, parseAuditRow } from '../ddl-audit.js'
import { addRowChange, bindRelation, type Binding } from '../row-binding.js'
import { refreshNeededError } from '../schema-change.js'
import type { SourcePlan } from '../source-plan.js'
import { workDirectory } from '../work-directory.js'
import { Batcher, DEFAULT_BATCH, type BatchLimits } from './batcher.js'
import { Committer, microsToTimestamp, type BatchSummary } from './committer.js'
import { autoRefreshes, CopiesInFlight, REFRESH_MESSAGE_PREFIX, type RefreshLoadedHook } from './copies.js'
import { NewTables } from './new-tables.js'
import { PendingChanges } from './pending-changes.js'
import { SchemaEvents, type SchemaVerdict } from './schema-events.js'
import { SourceChecks } from './source-checks.js'
import { alignWithDestination } from './start-alignment.js'
import { TableRouter } from './table-router.js'
import { HeapGovernor } from '../heap-governor.js'
import { PartitionWatch } from './partition-watch.js'

/** How often an idle stream records (and then confirms) the server's position. */
const IDLE_CHECKPOINT_MS = 1_000

export interface StreamOptions {
  readonly config: ResolvedConfig
  readonly source: ResolvedSource
  readonly destination: Destination
  readonly client: SqlClient
  readonly plan: SourcePlan
  readonly states: ReadonlyMap<string, TableState>
  readonly log: Logger
  readonly live: SourceMonitor
  readonly once: boolean
  readonly signal: AbortSignal | undefined
  readonly batch?: Partial<BatchLimits> | undefined
  readonly snapshotWorkers: number
  readonly onBatch?: ((summary: BatchSummary) => void) | undefined
  readonly onRefreshLoaded?: RefreshLoadedHook | undefined
  /** The stream is open: the slot was ours to read. */
  readonly onStreaming?: (() => void) | undefined
}

export interface StreamResult {
  readonly transactions: number
  readonly changes: number
  readonly checkpoint: Lsn
}

/** The open transaction: its commit LSN and time, known from Begin on. */
interface OpenTransaction {
  readonly finalLsn: Lsn
  readonly commit: ChangeCommit
  readonly time: number
}

/** Streams the source's changes into the destination until stopped (or, with `once`, caught up). */
export async function streamChanges(options: StreamOptions): Promise<StreamResult> {
  const loop = await StreamLoop.create(options)
  return loop.run()
}

class StreamLoop {
  private txn: OpenTransaction | undefined
  /** The commit LSN of the last transaction begun in the stream. */
  private lastBegin: Lsn
  private readonly bindings = new Map<object, Binding>()
  private lastKeepaliveRequest = 0
  private lastIdleCheckpoint = 0
  private stopping = false

  private constructor(
    private readonly o: StreamOptions,
    private readonly checkpoint: Lsn,
    private readonly target: Lsn | undefined,
    private readonly router: TableRouter,
    private readonly pending: PendingChanges,
    private readonly batcher: Batcher,
    private readonly committer: Committer,
    private readonly copies: CopiesInFlight,
    private readonly schema: SchemaEvents,
    private readonly checks: SourceChecks,
    private readonly partitions: PartitionWatch,
    private readonly stream: ReplicationStream,
    private readonly heap: HeapGovernor,
  ) {
    this.lastBegin = checkpoint
  }

  static async create(o: StreamOptions): Promise<StreamLoop> {
    const { destination, source, client, plan, states, live, log } = o
    const state = await destination.readSource(source.name)
    const checkpoint = state?.checkpointLsn ?? 0n
    const now = parseLsn((await client.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn')).rows[0]?.lsn ?? '0/0')
    const target = o.once ? now : undefined
    const stateOf = (t: TableTarget) => states.get(key(t.table.schema, t.table.name))
    const router = new TableRouter(plan.targets, (t) => stateOf(t)?.snapshotLsn ?? 0n)
    const pending = new PendingChanges()
    const batcher = new Batcher({ ...DEFAULT_BATCH, maxBytes: o.config.memory.batchBytes, ...commitCadence(o.config.commit, destination.capabilities, o.once), ...o.batch })
    let stream: ReplicationStream | undefined
    let copies: CopiesInFlight | undefined
    const heap = new HeapGovernor(o.config.memory.heapBytes)
    const committer = new Committer(
      { source: source.name, destination, batcher, pending, live, log, confirm: (lsn) => stream?.confirm(lsn), onBatch: o.onBatch, onSwapped: (swaps) => copies?.swapped(swaps), beforeLargeCommit: () => heap.release() },
      checkpoint,
    )
    let loop: StreamLoop | undefined
    copies = new CopiesInFlight({ source, defaultScd: o.config.scd, destination, workers: o.snapshotWorkers, log, live, committer, router, pending, lastBegun: () => loop?.lastBegin ?? checkpoint, onRefreshLoaded: o.onRefreshLoaded, holdBytes: batcher.limits.maxBytes / 2 })
    const partitions = new PartitionWatch({ client, config: o.config, destination, log, router, pending, batcher, copies })
    const newTables = new NewTables({ client, source, defaultScd: o.config.scd, destination, router, copies, committer, partitions, live, log })
    const schema = new SchemaEvents({ client, destination, log, live, router, pending, batcher, copies, newTables, partitions })
    const checks = new SourceChecks({ client, source, config: o.config, serverVersionNum: plan.serverVersionNum, live, log, newTables })
    for (const t of plan.targets) live.table(t.display, `${t.destSchema}.${t.destName}`).phase = 'streaming'
    const copyAtStart = await alignWithDestination({ destination, targets: plan.targets, stateOf, pending, dropColumns: o.config.droppedColumns === 'drop' })
    // Partitions attached or detached while no run streamed are looked for once the stream has
    // caught up with the WAL written before this start: a leaf's rows still in the stream are not
    // rows the destination lacks (see StreamLoop.quiet).
    partitions.reconcileAt(plan.targets, now)
    // Tables marked for a refresh (by inlet refresh, or a copy a stop or crash interrupted), or
    // changed after the checkpoint in a way the destination cannot hold.
    for (const t of plan.targets) {
      const s = stateOf(t)
      const marked = s?.refreshRequested === true && s.phase === 'streaming'
      const incompatible = copyAtStart.get(t)
      if (incompatible !== undefined && !marked && !autoRefreshes(o.config, t)) throw refreshNeededError(t, incompatible)
      if (incompatible !== undefined || marked) copies.start(t, incompatible ?? `${t.display} is marked for a refresh.`)
    }
    // Opened last, so that nothing before can leave the slot held by a connection no one closes.
    // Idle positions are confirmed only once recorded as the checkpoint, so that the slot is never
    // ahead of the destination: a slot found ahead was recreated or moved by someone else.
    const replication = await ReplicationConnection.open(source.connection)
    stream = await replication.startStreaming({
      ...{ slot: source.slot, publications: [source.publication], resumeLsn: checkpoint, confirmIdle: false },
      ...{ spoolDirectory: workDirectory(destination.localPath, 'spool', source.name), spoolMemoryBytes: o.config.memory.spoolBytes, maxInboxBytes: o.config.memory.inboxBytes },
    })
    live.phase = 'streaming'
    o.onStreaming?.()
    live.checkpoint = checkpoint
    live.lastCommitTime ??= state?.checkpointCommitTime == null ? undefined : parsePgTime(state.checkpointCommitTime) * 1000
    log.info('stream.start', `Streaming from ${source.slot} after ${formatLsn(checkpoint)}${target === undefined ? '' : ` until ${formatLsn(target)}`}.`, { slot: source.slot, checkpoint: formatLsn(checkpoint) })
    loop = new StreamLoop(o, checkpoint, target, router, pending, batcher, committer, copies, schema, checks, partitions, stream, heap)
    return loop
  }

  async run(): Promise<StreamResult> {
    const { signal, log } = this.o
    const onAbort = () => (this.stopping = true)
    signal?.addEventListener('abort', onAbort)
    if (signal?.aborted === true) this.stopping = true
    try {
      await this.loop()
      // Stopping: commit the transactions already complete; a partial one is dropped and re-read next run.
      if (this.txn === undefined) await this.commit()
      else await this.committer.abandon()
      await this.committer.idle()
    } finally {
      // Copies not swapped in are abandoned; their tables stay marked for the next run.
      await this.copies.cancelAll()
      await this.committer.idle().catch(() => undefined)
      signal?.removeEventListener('abort', onAbort)
      await this.stream.close()
    }
    const { checkpoint, totals } = this.committer
    log.info('stream.stop', `Stopped at checkpoint ${formatLsn(checkpoint)}: ${totals.transactions} transactions, ${totals.changes} changes applied.`, { checkpoint: formatLsn(checkpoint), ...totals })
    return { ...totals, checkpoint }
  }

  private async loop(): Promise<void> {
    const { live } = this.o
    let next: Promise<IteratorResult<StreamEvent[]>> | undefined
    for (;;) {
      const failure = this.committer.failure ?? this.copies.failure
      if (failure !== undefined) throw failure.error
      if (this.stopping) return
      await this.checks.due()
      if (this.txn === undefined) await this.partitions.due(this.lastBegin)
      this.copies.check()
      if (this.stream.serverLsn > live.serverLsn) live.serverLsn = this.stream.serverLsn
      // inlet refresh through the run's local API.
      for (const [schema, name] of live.refreshRequests.splice(0)) this.copies.request([schema, name])
      next ??= this.stream.next()
      const result = await Promise.race([next, new Promise<'quiet'>((r) => setTimeout(() => r('quiet'), this.batcher.quietWaitMs()))])
      if (result === 'quiet') {
        if (await this.quiet()) return
        continue
      }
      next = undefined
      if (result.done === true) return
      for (const event of result.value) await this.dispatch(event)
      this.heap.check()
      // Decoded events resolve as microtasks, which would starve the I/O callbacks that carry the
      // applying batch's statement completions (and socket reads): let them run between arrays.
      await new Promise((resolve) => setImmediate(resolve))
    }
  }

  /** Nothing more arrived for a moment; returns true when a --once run has caught up. */
  private async quiet(): Promise<boolean> {
    // Never in the middle of a transaction: its changes so far would commit under the previous checkpoint.
    if (this.txn !== undefined) return false
    const drained = this.stream.drainedLsn
    // (Changes outside any transaction: partitions found gone.)
    if (this.batcher.hasCommit || this.copies.anyLoaded || this.batcher.changes > 0) await this.commit()
    else if (drained > this.committer.checkpoint && Date.now() - this.lastIdleCheckpoint >= IDLE_CHECKPOINT_MS) {
      this.lastIdleCheckpoint = Date.now()
      await this.committer.idleCheckpoint(drained, (lsn) => this.stream.confirmDrained(lsn))
    }
    if (await this.partitions.reconcileIfCaughtUp(drained, this.committer.checkpoint)) return false
    if (this.target !== undefined && this.copies.size === 0 && (drained >= this.target || this.committer.checkpoint >= this.target)) return true
    // Idle: ask the server where it is (a keepalive), to end --once or record an idle checkpoint.
    if (Date.now() - this.lastKeepaliveRequest > (this.target === undefined ? IDLE_CHECKPOINT_MS : 100)) {
      this.stream.sendStatus(true)
      this.lastKeepaliveRequest = Date.now()
    }
    return false
  }

  private commit(): Promise<void> {
    const swaps = this.copies.takeLoaded()
    const committing = this.committer.commit(swaps)
    this.copies.swapsCommitting(swaps, committing)
    return committing
  }

  private async dispatch(event: StreamEvent): Promise<void> {
    let verdict: SchemaVerdict
    if (event.kind === 'relation' && !isAuditRelation(event.relation)) verdict = await this.schema.relation(event.relation, this.txn?.finalLsn)
    else if (event.kind === 'insert' && isAuditRelation(event.relation) && this.txn !== undefined) verdict = await this.schema.audit(parseAuditRow(event.relation, event.newTuple), this.txn.finalLsn)
    if (verdict !== undefined) {
      // A change the destination cannot follow in place: copy that table again, the others stream on.
      if (!autoRefreshes(this.o.config, verdict.base)) throw refreshNeededError(verdict.base, verdict.refresh)
      this.copies.start(verdict.base, verdict.refresh)
    }
    if (event.kind === 'message' && event.prefix === REFRESH_MESSAGE_PREFIX) this.copies.ignoreMessage()
    this.take(event)
    if (event.kind === 'commit') {
      if (this.batcher.full()) {
        await this.committer.idle() // the previous batch: one applies while this one fills, no more
        // A transaction staged in parts commits alone: decoding on meanwhile would grow the heap
        // while the destination needs the memory most (measured: 20-25 MB at a 1 GB transaction).
        if (this.committer.stagedParts > 0) await this.commit()
        else void this.commit()
      }
    } else if (this.txn !== undefined && this.batcher.overBytes()) await this.committer.stage()
  }

  /** Transaction framing and row changes. */
  private take(event: StreamEvent): void {
    switch (event.kind) {
      case 'begin':
        this.txn = { finalLsn: event.finalLsn, commit: { lsn: event.finalLsn.toString(), ts: microsToTimestamp(event.commitTime) }, time: event.commitTime }
        this.lastBegin = event.finalLsn
        return
      case 'insert':
      case 'update':
      case 'delete': {
        const txn = this.txn
        const base = this.router.route(event.relation.id)
        if (base === undefined || txn === undefined || !this.router.admits(base, txn.finalLsn, event.relation.id)) return
        const copy = this.copies.of(base, event.relation.id)
        if (copy !== undefined) return copy.add(event, txn.finalLsn, txn.commit)
        const c = this.pending.of(base)
        const before = c.bytes
        addRowChange(c, this.bind(event.relation, base), event, txn.commit)
        this.batcher.count(base, event.kind, txn.time)
        this.batcher.changes++
        this.batcher.bytes += c.bytes - before
        return
      }
      case 'truncate': {
        const txn = this.txn
        if (txn === undefined) return
        for (const relation of event.relations) {
          const base = this.router.route(relation.id)
          if (base === undefined || !this.router.admits(base, txn.finalLsn, relation.id)) continue
          // A leaf partition's TRUNCATE empties that partition only (where rows record theirs).
          const partition = base.partitionColumn === true && relation.id !== base.table.oid ? relation.id : undefined
          const copy = this.copies.of(base, relation.id)
          if (copy !== undefined) copy.add({ kind: 'truncate', partition }, txn.finalLsn, txn.commit)
          else this.pending.of(base).truncate(txn.commit, partition)
          this.batcher.count(base, 'truncate', txn.time)
          this.batcher.changes++
        }
        return
      }
      case 'commit':
        this.txn = undefined
        this.o.live.oldestPendingCommit ??= event.commitTime
        this.batcher.committed(event.endLsn, event.commitTime)
        return
      default:
        return
    }
  }

  /** The relation's column map onto the table's current binding (recomputed after a schema change). */
  private bind(relation: Parameters<typeof bindRelation>[1], base: TableTarget): Binding {
    const current = this.pending.binding(base)
    let b = this.bindings.get(relation)
    if (b === undefined || b.target !== current) this.bindings.set(relation, (b = bindRelation(current, relation)))
    return b
  }
}

/**
 * The batch limits a configured or destination-given commit interval sets: a batch commits when
 * its oldest change is that old, also on a quiet stream (the point is fewer commits), except that
 * a --once run commits as soon as it is quiet, to finish.
 */
function commitCadence(config: ResolvedConfig['commit'], capabilities: DestinationCapabilities, once: boolean): Partial<BatchLimits> {
  const interval = config.intervalMs ?? capabilities.commitIntervalMs
  const maxChanges = config.maxChanges ?? capabilities.commitMaxChanges
  return {
    ...(interval === undefined ? {} : { maxLatencyMs: interval, minLatencyMs: once ? Math.min(interval, DEFAULT_BATCH.minLatencyMs) : interval }),
    ...(maxChanges === undefined ? {} : { maxChanges }),
  }
}
