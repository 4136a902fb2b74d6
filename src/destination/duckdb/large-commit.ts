/**
 * Large commits (a transaction staged in parts) run with DuckDB's string compression off (FSST,
 * dictionary and dictionary-FSST). DuckDB analyses each row group's strings for compression in
 * memory outside its buffer pool, and over a long append that is most of what it holds. Measured,
 * DuckDB alone appending 250 MB of 1 kB rows in one transaction (16 parts, 16,384-row groups,
 * memory_limit 32 MB, from 89 MB before): peak 197-222 MB with every method, 197-212 without FSST,
 * 169-178 without all three, and a fifth faster. Only the row groups written meanwhile are stored
 * so (numbers, dates and the other methods still compress); ordinary batches and snapshots keep
 * it. The setting is the database's, not the connection's: one switch is shared by every writer
 * of a database, off while any of them commits a large batch, so that a copy or another source's
 * batch written meanwhile goes without too, but never longer. The commit checkpoints inside the
 * window; while a copy holds a transaction on a sibling connection that checkpoint cannot run, and
 * DuckDB's later one recompresses those row groups with every method.
 */
import type { SqlSession } from './sql-session.js'

const MB = 1024 * 1024

/** The string compression methods a large commit goes without. */
export const STRING_COMPRESSION = 'fsst,dictionary,dict_fsst'

/**
 * More staged bytes than twice the engine's pool share (64 MB at least): the pipeline's batches of
 * whole transactions stay below it (its batch share is at most 0.6 of the pool's, see
 * config/memory-budget.ts), so only a transaction staged in parts (or a copy's held changes
 * staged in parts) gets there. A threshold of the whole ceiling (196 MB at the default
 * memory_limit) let a 150 MB transaction keep FSST: peak 307 MB, measured.
 */
export function isLargeCommit(stagedBytes: number, poolBytes: number | undefined): boolean {
  return stagedBytes > Math.max(64 * MB, 2 * (poolBytes ?? 0))
}

export class StringCompressionSwitch {
  private holders = 0

  async withoutStringCompression<T>(sql: SqlSession, work: () => Promise<T>): Promise<T> {
    this.holders++
    try {
      if (this.holders === 1) await sql.run(`SET disabled_compression_methods = '${STRING_COMPRESSION}'`)
      return await work()
    } finally {
      // A failed RESET leaves compression off until the next large commit ends: larger files, not lost data.
      if (--this.holders === 0) await sql.run('RESET disabled_compression_methods').catch(() => undefined)
    }
  }
}
