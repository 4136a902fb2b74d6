/**
 * Read-only SQL on the destination (`inlet query`, and the running run's local API): one
 * SELECT-like statement (SELECT, FROM, WITH, DESCRIBE, SHOW, SUMMARIZE, PRAGMA table_info,
 * EXPLAIN), refused otherwise before it runs, read up to a row limit. Inside a running run it
 * reads on a connection of its own, in a snapshot that sees committed batches only.
 */
import { StatementType, type DuckDBConnection } from '@duckdb/node-api'
import { InletError } from '../../errors/inlet-error.js'

export interface QueryResult {
  readonly columns: ReadonlyArray<{ readonly name: string; readonly type: string }>
  /** Values as JSON (large integers and decimals as strings, timestamps as ISO text). */
  readonly rows: ReadonlyArray<Record<string, unknown>>
  /** More rows than the limit: only the first `limit` are here. */
  readonly truncated: boolean
}

const READ_ONLY = new Set<number>([StatementType.SELECT, StatementType.EXPLAIN])

export async function readOnlyQuery(connection: DuckDBConnection, sql: string, limit: number, timeoutMs = 60_000): Promise<QueryResult> {
  let statements
  try {
    statements = await connection.extractStatements(sql)
  } catch (cause) {
    throw queryError(`The query does not parse: ${firstLine(cause)}`, cause)
  }
  if (statements.count !== 1) throw queryError(`inlet query runs exactly one statement; this text has ${statements.count}.`)
  let prepared
  try {
    prepared = await statements.prepare(0)
  } catch (cause) {
    throw queryError(firstLine(cause), cause)
  }
  if (!READ_ONLY.has(prepared.statementType)) {
    throw queryError(`inlet query only reads (SELECT, WITH, FROM, DESCRIBE, SHOW, SUMMARIZE, EXPLAIN); this is a ${StatementType[prepared.statementType] ?? 'other'} statement.`)
  }
  // A read-only transaction as well: EXPLAIN ANALYZE runs its statement, and table functions may
  // act. It ends with the read, so no snapshot is held open between queries.
  await connection.run('BEGIN TRANSACTION READ ONLY')
  const timer = setTimeout(() => connection.interrupt(), timeoutMs)
  try {
    const reader = await prepared.streamAndReadUntil(limit + 1)
    const names = reader.columnNames()
    const types = reader.columnTypes().map((t) => t.toString())
    const rows = reader.getRowObjectsJson().slice(0, limit)
    return { columns: names.map((name, i) => ({ name, type: types[i] ?? '' })), rows, truncated: reader.currentRowCount > limit }
  } catch (cause) {
    throw queryError(/interrupt/i.test(firstLine(cause)) ? `The query ran longer than ${timeoutMs / 1000} s and was stopped.` : firstLine(cause), cause)
  } finally {
    clearTimeout(timer)
    await connection.run('ROLLBACK').catch(() => undefined)
  }
}

function queryError(message: string, cause?: unknown): InletError {
  return new InletError('INLET-D005', message, { ...(cause === undefined ? {} : { cause }), fix: 'Pass one read-only statement, e.g. inlet query "SELECT count(*) FROM public.orders"' })
}

function firstLine(cause: unknown): string {
  return ((cause as Error).message ?? String(cause)).split('\n')[0] ?? ''
}
