/**
 * Commits batches: the pending changes (and copies ready to be swapped in) go to the destination
 * as one batch with its checkpoint; only after that commit is the checkpoint confirmed to the slot.
 *
 * Batches apply while the next one is read and coalesced: the destination works on its own
 * threads, so decoding (JavaScript) and applying overlap. The work runs on one chain, in order: at
 * most one batch applies while one fills, a transaction too large for memory is staged piece by
 * piece ahead of the batch that commits it, and an LSN is confirmed only after its batch's commit.
 */
import type { Destination, StagedChanges, Swap } from '../../destination/destination.js'
import type { Logger } from '../../observability/log.js'
import type { SourceMonitor } from '../../observability/run-monitor.js'
import type { Lsn } from '../../protocol/lsn.js'
import type { TableTarget } from '../../model/table-binding.js'
import type { Segment } from '../../model/change-set.js'
import type { Batcher, PendingBatch } from './batcher.js'
import type { PendingChanges } from './pending-changes.js'

/** What a committed batch reports to the run's caller (tests, the demo). */
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

/** A copy loaded beside its table, with the changes held for it, ready to replace the table. */
export interface ReadySwap {
  readonly base: TableTarget
  readonly copy: TableTarget
  readonly final: TableTarget
  readonly snapshotLsn: Lsn
  readonly rows: number
  /** Held changes staged while the copy ran, then those still in memory. */
  readonly staged: Promise<readonly StagedChanges[]>
  readonly segments: readonly Segment[]
  /** A leaf partition's copy (its rows replace the partition's), not the whole table's. */
  readonly partition?: number | undefined
}

export interface CommitterOptions {
  readonly source: string
  readonly destination: Destination
  readonly batcher: Batcher
  readonly pending: PendingChanges
  readonly live: SourceMonitor
  readonly log: Logger
  /** Confirms a committed checkpoint to the slot. */
  readonly confirm: (lsn: Lsn) => void
  readonly onBatch?: ((summary: BatchSummary) => void) | undefined
  /** Called after a batch committed, with the swaps it made (their tables stream on). */
  readonly onSwapped?: (swaps: readonly ReadySwap[]) => void
  /**
   * A transaction staged in parts is staged whole and commits in one large destination transaction
   * now: the run collects the JavaScript heap's garbage, so that the destination's engine finds the
   * memory (measured: 20-25 MB of garbage left by the last part's staging otherwise).
   */
  readonly beforeLargeCommit?: () => void
}

export class Committer {
  private chain: Promise<void> = Promise.resolve()
  private failed: { error: unknown } | undefined
  /** Parts of the transaction in progress already staged (it was too large for memory). */
  private staged: StagedChanges[] = []
  /** The last checkpoint committed (and confirmed). */
  checkpoint: Lsn
  totals = { transactions: 0, changes: 0 }

  constructor(private readonly options: CommitterOptions, checkpoint: Lsn) {
    this.checkpoint = checkpoint
  }

  /** Parts of the transaction in progress already staged (it was too large for memory). */
  get stagedParts(): number {
    return this.staged.length
  }

  /** The first error of any work on the chain; the loop stops on it. */
  get failure(): { error: unknown } | undefined {
    return this.failed
  }

  /** Runs work after everything queued before it; a failure stops the stream. */
  enqueue(work: () => Promise<void>): Promise<void> {
    this.chain = this.chain.then(work)
    this.chain.catch((error: unknown) => (this.failed ??= { error }))
    return this.chain
  }

  /** Settles when everything queued so far has run. */
  idle(): Promise<void> {
    return this.chain
  }

  /**
   * Commits the pending whole transactions (if any) and the swaps; returns when it is done.
   * Changes of a transaction still open must not be pending (see `stage`): the loop calls this at
   * transaction boundaries only.
   */
  commit(swaps: readonly ReadySwap[]): Promise<void> {
    const { destination, batcher, pending } = this.options
    const work = pending.drain()
    const batch = batcher.take()
    // (A batch without a transaction of its own still carries swaps, or changes found at start.)
    if (batch === undefined && swaps.length === 0 && work.length === 0) return this.chain
    const spilled = this.staged
    this.staged = []
    return this.enqueue(async () => {
      const started = performance.now()
      const changes = [...spilled]
      for (const w of work) changes.push(await destination.stage(w.target, w.segments))
      const ready: Swap[] = []
      for (const s of swaps) {
        const held = [...(await s.staged)]
        if (s.segments.length > 0) held.push(await destination.stage(s.final, s.segments))
        ready.push({ copy: s.copy, table: s.final, snapshotLsn: s.snapshotLsn, rows: s.rows, changes: held, partition: s.partition })
      }
      if (spilled.length > 0) this.options.beforeLargeCommit?.()
      await destination.commit({ swaps: ready, changes, checkpoint: batch === undefined ? undefined : checkpointOf(this.options.source, batch) })
      if (swaps.length > 0) this.options.onSwapped?.(swaps)
      if (batch !== undefined) this.committed(batch, started)
    })
  }

  /** Inside a transaction too large for memory: what is held so far goes to the destination's scratch. */
  stage(): Promise<void> {
    const work = this.options.pending.drain()
    this.options.batcher.bytes = 0
    return this.enqueue(async () => {
      for (const w of work) this.staged.push(await this.options.destination.stage(w.target, w.segments))
    })
  }

  /** The transaction in progress will not commit here (a stop): its staged parts go. */
  async abandon(): Promise<void> {
    await this.chain.catch(() => undefined)
    await this.options.destination.discard(this.staged.splice(0))
  }

  /**
   * Nothing of ours in the WAL up to `lsn` (an idle source, or WAL of other tables and databases):
   * it becomes the checkpoint, then is confirmed, so the slot retains no WAL for it.
   */
  idleCheckpoint(lsn: Lsn, confirm: (lsn: Lsn) => void): Promise<void> {
    return this.enqueue(async () => {
      await this.options.destination.writeIdleCheckpoint(this.options.source, lsn)
      confirm(lsn)
      this.checkpoint = lsn
      this.options.live.checkpoint = lsn
    })
  }

  private committed(batch: PendingBatch, started: number): void {
    const { live, confirm, onBatch, source } = this.options
    confirm(batch.commit.endLsn)
    this.checkpoint = batch.commit.endLsn
    this.totals = { transactions: this.totals.transactions + batch.transactions, changes: this.totals.changes + batch.changes }
    const applyMs = performance.now() - started
    live.recordBatch(applyMs / 1000)
    live.checkpoint = batch.commit.endLsn
    live.lastCommitTime = batch.commit.time
    live.oldestPendingCommit = this.options.batcher.oldestCommitTime
    for (const [t, c] of batch.counts) {
      const lt = live.table(t.display, `${t.destSchema}.${t.destName}`)
      for (const kind of ['insert', 'update', 'delete', 'truncate'] as const) lt.applied[kind] += c.kinds[kind]
      lt.lastCommitTime = c.time
    }
    onBatch?.({ source, checkpoint: batch.commit.endLsn, transactions: batch.transactions, changes: batch.changes, applyMs, firstCommitTime: batch.firstCommitTime, lastCommitTime: batch.commit.time })
  }
}

function checkpointOf(source: string, batch: PendingBatch) {
  return {
    source,
    lsn: batch.commit.endLsn,
    commitTime: microsToTimestamp(batch.commit.time),
    tables: [...batch.counts].map(([t, c]) => ({ schema: t.table.schema, table: t.table.name, commitTime: microsToTimestamp(c.time) })),
  }
}

/** Microseconds since 1970 → `YYYY-MM-DD HH:MM:SS.ffffff+00`. */
export function microsToTimestamp(micros: number): string {
  const ms = Math.floor(micros / 1000)
  const rest = String(micros - ms * 1000).padStart(3, '0')
  return `${new Date(ms).toISOString().slice(0, 23).replace('T', ' ')}${rest}+00`
}
