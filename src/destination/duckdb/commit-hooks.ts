import type { BatchCommit } from '../destination.js'
import type { SqlSession } from './sql-session.js'

/**
 * Work another destination built on this one does inside each batch's transaction (the Iceberg
 * destination writes its snapshots from the rows the batch changed): `before` runs before the
 * batch applies, `after` after it, both in its transaction; `committed` once it has committed.
 */
export interface CommitHooks {
  before(sql: SqlSession, batch: BatchCommit): Promise<unknown>
  after(sql: SqlSession, batch: BatchCommit, context: unknown): Promise<void>
  committed(): Promise<void>
}
