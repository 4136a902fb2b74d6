/**
 * Large commits (a transaction spilled in parts) run with DuckDB's FSST string compression off.
 * DuckDB analyses each row group's strings for compression in memory outside its buffer pool;
 * for FSST that is most of what a long append holds (measured, a 1 GB transaction through
 * `inlet run` at 16,384-row groups: peak RSS 290-318 MB with FSST, 255-291 MB, median 274,
 * without). Only the row groups written meanwhile are stored without it (dictionary and the other
 * methods still apply). The setting is the database's, not the connection's: one switch is shared
 * by every writer of a database, off while any of them commits a large batch, so that a copy or
 * another source's batch written meanwhile goes without FSST too, but never longer.
 */
import type { SqlSession } from './sql-session.js'

const MB = 1024 * 1024

/**
 * More staged bytes than the engine may use in all (its ceiling within memory_limit): ordinary
 * batches are capped far below it (the batch share), so only a spilled transaction gets there.
 */
export function isLargeCommit(stagedBytes: number, ceilingBytes: number | undefined): boolean {
  return stagedBytes > Math.max(64 * MB, ceilingBytes ?? 0)
}

export class FsstSwitch {
  private holders = 0

  async withoutFsst<T>(sql: SqlSession, work: () => Promise<T>): Promise<T> {
    this.holders++
    try {
      if (this.holders === 1) await sql.run(`SET disabled_compression_methods = 'fsst'`)
      return await work()
    } finally {
      // A failed RESET leaves FSST off until the next large commit ends: smaller files lost, not data.
      if (--this.holders === 0) await sql.run('RESET disabled_compression_methods').catch(() => undefined)
    }
  }
}
