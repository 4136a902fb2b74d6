/**
 * `memory_limit`: what one `inlet run` may hold. Two parts are fixed, measured: Node.js with its
 * libraries loaded, and what DuckDB holds outside its buffer pool while it appends. The rest is
 * shared among the parts Inlet sizes: DuckDB's buffer pool (which spills to disk beyond it), the
 * JavaScript heap, the changes of a batch held in memory before they are staged, the replication
 * stream's inbox, and the spool of streamed transactions.
 */
import { totalmem } from 'node:os'
import { InletError } from '../errors/inlet-error.js'

const MB = 1024 * 1024

/** What Node.js holds with DuckDB's and pg's code loaded, before Inlet holds anything (measured: 90-95 MB). */
export const BASELINE_BYTES = 92 * MB

/**
 * What DuckDB holds outside its buffer pool while it appends a large batch: it analyses each row
 * group's values for compression in memory of its own (measured: 110-130 MB for 1 kB rows in
 * 16,384-row row groups, whatever its memory_limit; more for updates of a large table).
 */
export const DESTINATION_WORKING_BYTES = 160 * MB

/** Below this nothing is left for the shares. */
export const MIN_LIMIT_BYTES = 288 * MB

export interface MemoryBudget {
  /** The whole process's target. */
  readonly limitBytes: number
  /** The destination engine's own buffers (DuckDB's memory_limit). */
  readonly destinationBytes: number
  /** What the destination's engine may grow to for one write of very large values (all but the baseline). */
  readonly destinationCeilingBytes: number
  /** The JavaScript heap, live values and garbage not yet collected (see pipeline/heap-governor.ts). */
  readonly heapBytes: number
  /** Changes held for a batch (and for a table being copied) before they are staged. */
  readonly batchBytes: number
  /** Received replication messages not yet decoded, before the socket is paused. */
  readonly inboxBytes: number
  /** Streamed in-progress transactions held in memory before they spill to disk. */
  readonly spoolBytes: number
}

/**
 * The default: an eighth of the machine's memory, at least 320 MB and at most 384 MB. Measured on
 * a 1 GB transaction of 1 kB rows: Node.js with DuckDB loaded 92 MB, the stream's decoding and
 * staging about 110 MB more, DuckDB's append about 120 MB beyond its buffer pool; peak 300-340 MB.
 * A larger limit (in inlet.yaml) buys larger DuckDB caches for large tables, not correctness.
 */
export function defaultMemoryLimit(machineBytes = totalmem()): number {
  return Math.min(384 * MB, Math.max(320 * MB, Math.floor(machineBytes / 8)))
}

export function memoryBudget(limitBytes: number): MemoryBudget {
  const rest = Math.max(0, limitBytes - BASELINE_BYTES - DESTINATION_WORKING_BYTES)
  const share = (fraction: number, floor: number) => Math.max(floor * MB, Math.floor(rest * fraction))
  return {
    limitBytes,
    destinationBytes: share(0.25, 24),
    destinationCeilingBytes: limitBytes - BASELINE_BYTES,
    heapBytes: share(0.3, 32),
    batchBytes: share(0.15, 12),
    inboxBytes: share(0.1, 8),
    spoolBytes: share(0.1, 8),
  }
}

/** `256MB`, `1.5GB`, `512 MiB` or a number of megabytes → bytes. */
export function parseMemoryLimit(value: string | number): number {
  const match = typeof value === 'number' ? [String(value), String(value), 'MB'] : /^\s*(\d+(?:\.\d+)?)\s*(kB|KB|KiB|MB|MiB|GB|GiB)?\s*$/.exec(value)
  const bytes = match === null ? NaN : Number(match[1]) * ({ kB: 1024, KB: 1024, KiB: 1024, MB, MiB: MB, GB: 1024 * MB, GiB: 1024 * MB }[match[2] ?? 'MB'] ?? MB)
  if (!Number.isFinite(bytes) || bytes < MIN_LIMIT_BYTES) {
    throw new InletError('INLET-C003', `memory_limit must be at least ${MIN_LIMIT_BYTES / MB}MB, not "${value}".`, { fix: 'e.g. memory_limit: 512MB in inlet.yaml (the default is an eighth of the machine, 320MB to 384MB).' })
  }
  return Math.floor(bytes)
}
