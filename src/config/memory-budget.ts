/**
 * `memory_limit`: what one `inlet run` may hold. Two parts are fixed, measured: Node.js with its
 * libraries loaded, and what DuckDB holds outside its buffer pool while it appends. The rest is
 * shared among the parts Inlet sizes: DuckDB's buffer pool (which spills to disk beyond it), the
 * JavaScript heap, the changes of a batch held in memory before they are staged, the replication
 * stream's inbox, and the spool of streamed transactions.
 */
import { InletError } from '../errors/inlet-error.js'

const MB = 1024 * 1024

/** What Node.js holds with DuckDB's and pg's code loaded, before Inlet holds anything (measured: 90-95 MB). */
export const BASELINE_BYTES = 92 * MB

/**
 * What DuckDB holds outside its buffer pool while it appends a large batch: it analyses each row
 * group's values for compression in memory of its own (measured at 4,096-row groups: 60-100 MB for 1 kB
 * rows, whatever its memory_limit; at 16,384-row groups with string compression off for large
 * commits 50-80 MB, see destination/duckdb/large-commit.ts).
 */
export const DESTINATION_WORKING_BYTES = 80 * MB

/** The fixed parts and the shares' floors: below this the shares would not fit. */
export const MIN_LIMIT_BYTES = 256 * MB

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
 * The default: 288 MB whatever the machine, so that a run's footprint is known before it starts.
 * Measured on transactions of 250 MB and 1 GB of 1 kB rows through `inlet run` (PostgreSQL 13 and
 * 18): Node.js with DuckDB loaded 92 MB (74-78 MB of it code), the JavaScript heap 35-55 MB, DuckDB
 * 80-110 MB with its pool; peak 215-255 MB, the highest while DuckDB commits the whole transaction
 * (bench/RESULTS.md). A larger limit
 * (in inlet.yaml) buys larger DuckDB caches for large tables and larger batches in memory, not
 * correctness.
 */
export function defaultMemoryLimit(): number {
  return 288 * MB
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
    throw new InletError('INLET-C003', `memory_limit must be at least ${MIN_LIMIT_BYTES / MB}MB, not "${value}".`, { fix: 'e.g. memory_limit: 512MB in inlet.yaml (the default is 288MB).' })
  }
  return Math.floor(bytes)
}
