/**
 * One DuckDB connection with the few helpers every part of the DuckDB destination uses: run a
 * statement, read rows, and run work in one transaction (or inside the one already open).
 */
import type { DuckDBConnection } from '@duckdb/node-api'

export class SqlSession {
  private inTransaction = false

  constructor(readonly connection: DuckDBConnection) {}

  async run(sql: string): Promise<void> {
    await this.connection.run(sql)
  }

  /** Runs a statement and returns how many rows it changed. */
  async change(sql: string): Promise<number> {
    return Number((await this.connection.run(sql)).rowsChanged)
  }

  async rows<T>(sql: string): Promise<T[]> {
    const reader = await this.connection.runAndReadAll(sql)
    return reader.getRowObjectsJS() as T[]
  }

  get transactionOpen(): boolean {
    return this.inTransaction
  }

  /** Runs `work` in a transaction of its own, or inside the one already open. */
  async atomically<T>(work: () => Promise<T>): Promise<T> {
    if (this.inTransaction) return work()
    await this.run('BEGIN TRANSACTION')
    this.inTransaction = true
    try {
      const result = await work()
      await this.run('COMMIT')
      return result
    } catch (error) {
      // Also after a failed COMMIT: whatever DuckDB left open goes.
      await this.run('ROLLBACK').catch(() => undefined)
      throw error
    } finally {
      this.inTransaction = false
    }
  }

  close(): void {
    this.connection.closeSync()
  }
}

/** A DuckDB string literal. */
export function literal(value: string): string {
  return `'${value.replace(/'/g, "''")}'`
}
