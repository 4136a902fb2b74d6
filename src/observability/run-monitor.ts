/**
 * What a running `inlet run` knows about itself, kept in memory for `inlet status`, the metrics
 * endpoint and `/healthz`: per source its phase, checkpoint, server position and slot health; per
 * table its phase, copy progress and changes applied; errors by code and the last one.
 * The pipeline writes it; readers only read. It holds no row values and no secrets.
 */
import { InletError } from '../errors/inlet-error.js'
import type { SlotFacts } from '../source/preflight/facts.js'

export type SourcePhase = 'starting' | 'snapshot' | 'streaming' | 'reconnecting' | 'stopped' | 'failed'
export type LiveTablePhase = 'snapshot' | 'streaming' | 'refreshing' | 'dropped' | 'skipped'
export type ChangeKind = 'insert' | 'update' | 'delete' | 'truncate'

export interface LiveTable {
  readonly table: string
  destination: string
  phase: LiveTablePhase
  /** While copied: rows and bytes so far, the planner's estimate of the total, and when it began (ms since 1970). */
  copy: { rowsCopied: number; bytesCopied: number; estimatedRows: number; startedAt: number } | undefined
  readonly applied: Record<ChangeKind, number>
  /** Commit time (µs since 1970) of the last transaction applied to it. */
  lastCommitTime: number | undefined
  /** Why the table is skipped (phase `skipped`), and the fix. */
  skipped?: { readonly reason: string; readonly fix?: string | undefined } | undefined
}

export interface ErrorRecord {
  readonly code: string
  readonly message: string
  readonly source: string | undefined
  readonly table: string | undefined
  /** The exact command or SQL that fixes it, when the error names one. */
  readonly fix?: string | undefined
  readonly at: string
}

/** A slot to warn about: retaining more WAL than `limit`, less than `limit` left before invalidation, or unreserved. */
export function walWarning(slot: SlotFacts, limit: number): boolean {
  return (slot.retainedBytes ?? 0) > limit || (slot.safeWalSize !== null && slot.safeWalSize < limit) || slot.walStatus === 'unreserved'
}

/** Batch apply latency buckets, in seconds (Prometheus histogram). */
export const APPLY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

export class SourceMonitor {
  phase: SourcePhase = 'starting'
  checkpoint = 0n
  /** Commit time (µs) of the last transaction applied. */
  lastCommitTime: number | undefined
  /** The server's WAL end, as its keepalives and the slot checks report it. */
  serverLsn = 0n
  /** Commit time (µs) of the oldest transaction received but not yet applied; undefined: none. */
  oldestPendingCommit: number | undefined
  slot: SlotFacts | undefined
  slotCheckedAt = 0
  /** The slot retains more WAL than `retained_wal_warning_mb`, its safe_wal_size is below it, or it is unreserved. */
  walWarning = false
  /** WAL written per second on the server, from two slot checks. */
  walBytesPerSecond: number | undefined
  readonly tables = new Map<string, LiveTable>()
  /** `inlet refresh` through the local API: tables (schema, name) the stream loop starts copying. */
  readonly refreshRequests: Array<readonly [string, string]> = []
  readonly batchBuckets = APPLY_BUCKETS.map(() => 0)
  batchCount = 0
  batchSeconds = 0
  private lastWalSample: { lsn: bigint; at: number } | undefined

  constructor(readonly name: string, readonly slotName: string) {}

  table(display: string, destination: string): LiveTable {
    let t = this.tables.get(display)
    if (t === undefined) this.tables.set(display, (t = { table: display, destination, phase: 'streaming', copy: undefined, applied: { insert: 0, update: 0, delete: 0, truncate: 0 }, lastCommitTime: undefined }))
    t.destination = destination
    return t
  }

  recordBatch(seconds: number): void {
    this.batchCount++
    this.batchSeconds += seconds
    APPLY_BUCKETS.forEach((bound, i) => {
      if (seconds <= bound) this.batchBuckets[i] = (this.batchBuckets[i] ?? 0) + 1
    })
  }

  recordSlot(slot: SlotFacts | undefined, currentLsn: bigint): void {
    const now = Date.now()
    if (this.lastWalSample !== undefined && now - this.lastWalSample.at >= 1000 && currentLsn >= this.lastWalSample.lsn) {
      this.walBytesPerSecond = Number(currentLsn - this.lastWalSample.lsn) / ((now - this.lastWalSample.at) / 1000)
    }
    this.lastWalSample = { lsn: currentLsn, at: now }
    if (currentLsn > this.serverLsn) this.serverLsn = currentLsn
    this.slot = slot
    this.slotCheckedAt = now
  }

  /** Streaming or copying (not stopped, reconnecting or failed). */
  get up(): boolean {
    return this.phase === 'streaming' || this.phase === 'snapshot' || this.phase === 'starting'
  }

  /** Bytes of WAL past the checkpoint. */
  get lagBytes(): number {
    return this.checkpoint === 0n || this.serverLsn <= this.checkpoint ? 0 : Number(this.serverLsn - this.checkpoint)
  }

  /**
   * Streaming: seconds the oldest unapplied transaction has waited since its commit (0 when none
   * waits). Otherwise (copying, reconnecting, failed) nothing is read: seconds since the last
   * applied commit, or undefined before the first.
   */
  get lagSeconds(): number | undefined {
    const now = Date.now() * 1000
    if (this.oldestPendingCommit !== undefined) return Math.max(0, (now - this.oldestPendingCommit) / 1e6)
    if (this.phase === 'streaming') return 0
    return this.lastCommitTime === undefined ? undefined : Math.max(0, (now - this.lastCommitTime) / 1e6)
  }

  /**
   * Seconds until the server would invalidate the slot if it stopped advancing now, at the WAL
   * rate last measured: safe_wal_size / WAL per second. Undefined when max_slot_wal_keep_size is
   * unlimited (no invalidation) or no rate is known yet; Infinity when no WAL is written.
   */
  get invalidationForecastSeconds(): number | undefined {
    const safe = this.slot?.safeWalSize
    if (safe === null || safe === undefined || this.walBytesPerSecond === undefined) return undefined
    if (safe <= 0) return 0
    return this.walBytesPerSecond <= 0 ? Infinity : safe / this.walBytesPerSecond
  }
}

export class RunMonitor {
  readonly startedAt = new Date()
  readonly sources = new Map<string, SourceMonitor>()
  readonly errors = new Map<string, number>()
  lastError: ErrorRecord | undefined

  source(name: string, slot: string): SourceMonitor {
    let s = this.sources.get(name)
    if (s === undefined) this.sources.set(name, (s = new SourceMonitor(name, slot)))
    return s
  }

  /** `transient`: a network or server error that a reconnect may get past (counted as INLET-N001). */
  recordError(error: unknown, source?: string, transient = false): ErrorRecord {
    const code = error instanceof InletError ? error.code : transient ? 'INLET-N001' : 'INLET-X001'
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1)
    const table = (error as { target?: { display?: unknown } } | undefined)?.target?.display
    const fix = error instanceof InletError ? error.fix : undefined
    this.lastError = { code, message: error instanceof Error ? error.message : String(error), source, table: typeof table === 'string' ? table : undefined, ...(fix === undefined ? {} : { fix }), at: new Date().toISOString() }
    return this.lastError
  }

  /** Healthy: every source streams (or copies) and none is failed. */
  get healthy(): boolean {
    return [...this.sources.values()].every((s) => s.up)
  }
}
