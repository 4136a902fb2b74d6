/**
 * When to commit: the pending batch's transactions, changes and bytes against the limits, and how
 * long its oldest commit has waited. Pure bookkeeping; the stream loop asks, the committer takes.
 */
import type { Lsn } from '../../protocol/lsn.js'
import type { ChangeKind } from '../../observability/run-monitor.js'
import type { TableTarget } from '../../model/table-binding.js'

export interface BatchLimits {
  /** Apply once this many changes are pending (at a transaction boundary). */
  readonly maxChanges: number
  /** Apply (or, inside a transaction, stage what is held) past this many bytes of held changes. */
  readonly maxBytes: number
  /** Apply when the oldest pending commit is this old, even if more keeps arriving. */
  readonly maxLatencyMs: number
  /** When the stream goes quiet, apply once the oldest pending commit is this old. */
  readonly minLatencyMs: number
}

/** 50,000 changes or 0.5 s: batches large enough for set-based applies, small enough for sub-second latency. */
export const DEFAULT_BATCH: BatchLimits = { maxChanges: 50_000, maxBytes: 64 * 1024 * 1024, maxLatencyMs: 500, minLatencyMs: 50 }

export interface TableCounts {
  readonly kinds: Record<ChangeKind, number>
  /** Commit time (µs since 1970) of its last change in the batch. */
  time: number
}

/** What a committed batch reports (to status, metrics and the run's caller). */
export interface PendingBatch {
  /** End LSN and commit time (µs) of the batch's last transaction. */
  readonly commit: { readonly endLsn: Lsn; readonly time: number }
  readonly transactions: number
  readonly changes: number
  readonly firstCommitTime: number
  readonly counts: ReadonlyMap<TableTarget, TableCounts>
}

export class Batcher {
  private commit: { endLsn: Lsn; time: number } | undefined
  private since = 0
  private firstCommitTime = 0
  private transactions = 0
  private counts = new Map<TableTarget, TableCounts>()
  /** Changes taken in since the last take(), schema changes and truncates included. */
  changes = 0
  /** Bytes of changes held in memory since the last take() or staging. */
  bytes = 0

  constructor(readonly limits: BatchLimits) {}

  /** A whole transaction is pending. */
  get hasCommit(): boolean {
    return this.commit !== undefined
  }

  /** Commit time (µs) of the oldest pending transaction, if any. */
  get oldestCommitTime(): number | undefined {
    return this.commit === undefined ? undefined : this.firstCommitTime
  }

  count(base: TableTarget, kind: ChangeKind, commitTime: number): void {
    let c = this.counts.get(base)
    if (c === undefined) this.counts.set(base, (c = { kinds: { insert: 0, update: 0, delete: 0, truncate: 0 }, time: 0 }))
    c.kinds[kind]++
    c.time = commitTime
  }

  committed(endLsn: Lsn, commitTime: number, now = Date.now()): void {
    if (this.commit === undefined) {
      this.since = now
      this.firstCommitTime = commitTime
    }
    this.commit = { endLsn, time: commitTime }
    this.transactions++
  }

  /** At a transaction boundary: the batch is full or has waited long enough. */
  full(now = Date.now()): boolean {
    return this.commit !== undefined && (this.changes >= this.limits.maxChanges || this.bytes >= this.limits.maxBytes || now - this.since >= this.limits.maxLatencyMs)
  }

  /** Inside a transaction: what is held should go to the destination's scratch. */
  overBytes(): boolean {
    return this.bytes > this.limits.maxBytes
  }

  /** How long the loop may wait for more before a quiet stream commits what is pending. */
  quietWaitMs(now = Date.now()): number {
    return this.commit === undefined ? 200 : Math.max(0, this.limits.minLatencyMs - (now - this.since))
  }

  /** The pending batch, or undefined without a whole transaction; everything starts again from zero. */
  take(): PendingBatch | undefined {
    const batch = this.commit === undefined ? undefined : { commit: this.commit, transactions: this.transactions, changes: this.changes, firstCommitTime: this.firstCommitTime, counts: this.counts }
    this.commit = undefined
    this.transactions = 0
    this.changes = 0
    this.bytes = 0
    this.counts = new Map()
    return batch
  }
}
