/**
 * Read-only SQL on the destination (`inlet query`, and the running run's local API): one
 * SELECT-like statement (SELECT, FROM, WITH, DESCRIBE, SHOW, SUMMARIZE, PRAGMA table_info,
 * EXPLAIN of a SELECT), refused otherwise before it runs, read up to a row limit, in a read-only
 * transaction, by a DuckDB that reaches no file outside the destination (external-access.ts).
 * Inside a running run it reads on a connection of its own, in a snapshot that sees committed
 * batches only.
 */
import { StatementType, type DuckDBConnection } from '@duckdb/node-api'
import { InletError } from '../../errors/inlet-error.js'
import { literal } from './sql-session.js'

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
  // EXPLAIN ANALYZE runs the statement it explains: only a reading one.
  const read = prepared.statementType === StatementType.EXPLAIN ? await explained(connection, sql) : sql
  await assertOnlyReads(connection, read)
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

/** The SELECT an EXPLAIN [ANALYZE] explains (anything else is refused). */
async function explained(connection: DuckDBConnection, sql: string): Promise<string> {
  const inner = /^\s*EXPLAIN\s+(?:ANALY[SZ]E\s+|\([^)]*\)\s*)?([\s\S]*)$/i.exec(sql)?.[1]
  let type: StatementType | undefined
  try {
    type = inner === undefined ? undefined : (await (await connection.extractStatements(inner)).prepare(0)).statementType
  } catch {
    type = undefined
  }
  if (type !== StatementType.SELECT || inner === undefined) throw queryError('inlet query explains SELECT statements only (EXPLAIN [ANALYZE] SELECT ...).')
  return inner
}

/**
 * Table functions a query may call: catalogue and settings views, generators, JSON and list
 * helpers. Others act (checkpoint, enable_logging), run SQL of their own (query,
 * json_execute_serialized_sql), read memory or files (arrow_scan, read_csv) or secrets: refused,
 * and so is any DuckDB adds later until it is known.
 */
const READING_TABLE_FUNCTION = /^(duckdb_(?!secrets$|external_file_cache$).*|pragma_.*|range|generate_series|unnest|repeat|repeat_row|json_each|json_tree|summary|seq_scan|pg_timezone_names|icu_calendar_names|test_all_types|test_vector_types)$/

async function assertOnlyReads(connection: DuckDBConnection, sql: string): Promise<void> {
  const reader = await connection.runAndReadAll(`SELECT json_serialize_sql(CAST(${literal(sql)} AS VARCHAR))`)
  const tree = JSON.parse(String(reader.getRowsJS()[0]?.[0] ?? '{}')) as { error?: boolean }
  // What DuckDB does not serialize is refused, but for the catalogue PRAGMAs that read.
  if (tree.error === true) {
    if (/^\s*PRAGMA\s+(table_info|show|database_size|storage_info|version|show_tables|show_tables_expanded|database_list|functions)\b/i.test(sql)) return
    throw queryError('inlet query cannot check this statement: write it as a SELECT.')
  }
  const called: string[] = []
  const files: string[] = []
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(walk)
    if (node === null || typeof node !== 'object') return
    const o = node as { type?: unknown; function?: { function_name?: unknown } }
    if (o.type === 'TABLE_FUNCTION' && typeof o.function?.function_name === 'string') called.push(o.function.function_name)
    // FROM 'file.csv' (a replacement scan) reads a file by its name: never a table of ours.
    const name = (node as { type?: unknown; table_name?: unknown }).table_name
    if (o.type === 'BASE_TABLE' && typeof name === 'string' && /[/\\]|:\/\/|\.(csv|tsv|parquet|json|jsonl|ndjson|txt|gz|zst|arrow|db|duckdb)$/i.test(name)) files.push(name)
    Object.values(node).forEach(walk)
  }
  walk(tree)
  if (files.length > 0) throw queryError(`inlet query reads the destination's tables, not files (${files.length === 1 ? 'a file name' : 'file names'} in FROM).`)
  const refused = called.filter((name) => !READING_TABLE_FUNCTION.test(name.toLowerCase()))
  if (refused.length > 0) throw queryError(`inlet query reads the destination's tables; the table function ${refused[0]}() is not allowed.`)
}

function queryError(message: string, cause?: unknown): InletError {
  return new InletError('INLET-D005', message, { ...(cause === undefined ? {} : { cause }), fix: 'Pass one read-only statement, e.g. inlet query "SELECT count(*) FROM public.orders"' })
}

function firstLine(cause: unknown): string {
  return ((cause as Error).message ?? String(cause)).split('\n')[0] ?? ''
}
