/**
 * `memory_limit`: what one `inlet run` may hold, split among the parts that hold memory in
 * proportion to what they need. Node.js itself with its libraries loaded (V8, DuckDB's and pg's
 * code) takes about 80 MB whatever Inlet does; the rest is shared: the destination's own buffers
 * (DuckDB's buffer pool, which spills to disk beyond it), the changes of a batch held in memory
 * before they are staged, the replication stream's inbox, and the spool of streamed transactions.
 */
import { totalmem } from 'node:os'
import { InletError } from '../errors/inlet-error.js'

const MB = 1024 * 1024

/** What Node.js and the loaded libraries hold before Inlet holds anything (measured: 90-95 MB with DuckDB loaded). */
export const BASELINE_BYTES = 92 * MB

/** Below this the destination's engine cannot apply a batch. */
export const MIN_LIMIT_BYTES = 160 * MB

export interface MemoryBudget {
  /** The whole process's target. */
  readonly limitBytes: number
  /** The destination engine's own buffers (DuckDB's memory_limit). */
  readonly destinationBytes: number
  /** Changes held for a batch (and for a table being copied) before they are staged. */
  readonly batchBytes: number
  /** The JavaScript heap, live values and garbage not yet collected (see pipeline/heap-governor.ts). */
  readonly heapBytes: number
  /** Received replication messages not yet decoded, before the socket is paused. */
  readonly inboxBytes: number
  /** Streamed in-progress transactions held in memory before they spill to disk. */
  readonly spoolBytes: number
}

/**
 * The default: an eighth of the machine's memory, at least 192 MB and at most 256 MB; a larger
 * limit (in inlet.yaml) buys larger DuckDB caches for large tables, not correctness.
 */
export function defaultMemoryLimit(machineBytes = totalmem()): number {
  return Math.min(256 * MB, Math.max(192 * MB, Math.floor(machineBytes / 8)))
}

export function memoryBudget(limitBytes: number): MemoryBudget {
  const rest = limitBytes - BASELINE_BYTES
  // DuckDB holds several times its buffer pool's share outside it while it compresses a row
  // group of wide strings (measured: 130 MB at 1 kB a value; see duckdb-destination.ts), so its
  // pool gets a small share and the rest stays unassigned for that.
  return {
    limitBytes,
    destinationBytes: Math.floor(rest * 0.15),
    batchBytes: Math.floor(rest * 0.08),
    heapBytes: Math.floor(rest * 0.25),
    inboxBytes: Math.floor(rest * 0.05),
    spoolBytes: Math.floor(rest * 0.05),
  }
}

/** `256MB`, `1.5GB`, `512 MiB` or a number of megabytes → bytes. */
export function parseMemoryLimit(value: string | number): number {
  const match = typeof value === 'number' ? [String(value), String(value), 'MB'] : /^\s*(\d+(?:\.\d+)?)\s*(kB|KB|KiB|MB|MiB|GB|GiB)?\s*$/.exec(value)
  const bytes = match === null ? NaN : Number(match[1]) * ({ kB: 1024, KB: 1024, KiB: 1024, MB, MiB: MB, GB: 1024 * MB, GiB: 1024 * MB }[match[2] ?? 'MB'] ?? MB)
  if (!Number.isFinite(bytes) || bytes < MIN_LIMIT_BYTES) {
    throw new InletError('INLET-C003', `memory_limit must be at least ${MIN_LIMIT_BYTES / MB}MB, not "${value}".`, { fix: 'e.g. memory_limit: 512MB in inlet.yaml (the default is an eighth of the machine, 192MB to 256MB).' })
  }
  return Math.floor(bytes)
}
