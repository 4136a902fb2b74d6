/**
 * DuckDB's buffer pool (its memory_limit), shared by every writer of one database. What a
 * transaction changes DuckDB holds in the pool until it commits and cannot spill, so a few rows
 * of megabyte values can need more than the pool's share of memory_limit (measured: three rows
 * with 1 MB text and 1 MB bytea, inserted and updated in one batch of a 60-column table, failed
 * at 32 and 40 MB). Such a write, rolled back whole, is retried with the pool doubled, up to the
 * ceiling; the pool returns to its share afterwards, so the caches of ordinary batches stay small.
 */
import { InletError } from '../../errors/inlet-error.js'
import type { SqlSession } from './sql-session.js'

const MB = 1024 * 1024
const OUT_OF_MEMORY = /could not allocate|out of memory/i

export class MemoryPool {
  private currentMb: number
  private growing = 0

  constructor(
    private readonly shareMb: number,
    private readonly ceilingMb: number,
  ) {
    this.currentMb = shareMb
  }

  static of(shareBytes: number | undefined, ceilingBytes: number | undefined): MemoryPool | undefined {
    if (shareBytes === undefined) return undefined
    const share = Math.max(32, Math.floor(shareBytes / MB))
    return new MemoryPool(share, Math.max(share, Math.floor((ceilingBytes ?? shareBytes) / MB)))
  }

  async apply(sql: SqlSession): Promise<void> {
    await sql.run(`SET memory_limit = '${this.currentMb}MB'`)
  }

  /**
   * Runs `work`, which must be atomic on its own (a transaction that rolls back whole on failure);
   * DuckDB running out of its pool doubles the pool and runs it again.
   */
  async withRoom<T>(sql: SqlSession, work: () => Promise<T>): Promise<T> {
    this.growing++
    try {
      for (;;) {
        try {
          return await work()
        } catch (error) {
          if (!OUT_OF_MEMORY.test((error as Error).message ?? '') || sql.transactionOpen) throw error
          if (this.currentMb >= this.ceilingMb) throw outOfMemory(error, this.ceilingMb)
          this.currentMb = Math.min(this.ceilingMb, this.currentMb * 2)
          await this.apply(sql)
        }
      }
    } finally {
      // Back to the share once no write of any writer needs more.
      if (--this.growing === 0 && this.currentMb !== this.shareMb) {
        this.currentMb = this.shareMb
        await this.apply(sql).catch(() => undefined)
      }
    }
  }
}

function outOfMemory(cause: unknown, ceilingMb: number): InletError {
  return new InletError('INLET-D002', `Writing into the destination needs more than the ${ceilingMb} MB of memory DuckDB may use within memory_limit: a batch or table holds very large values.`, {
    cause,
    fix: `Raise memory_limit in inlet.yaml (e.g. memory_limit: ${Math.ceil((ceilingMb * 2 + 100) / 64) * 64}MB), then rerun inlet run: nothing past the last checkpoint was confirmed to the source.`,
  })
}
