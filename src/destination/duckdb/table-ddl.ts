/**
 * Destination tables in DuckDB: their DDL (create, alter for schema changes, fill of added columns)
 * and what the destination reads of them (names, column types). DuckDB compares identifiers
 * without regard to case, so table names are keyed in lower case.
 */
import { quoteIdent } from '../../postgres/sql-text.js'
import type { AddedColumn, SchemaChange } from '../../model/schema-change.js'
import { END_COLUMN, LSN_COLUMN, PARTITION_COLUMN, START_COLUMN, SYNCED_COLUMN, type TableTarget, type TargetColumn } from '../../model/table-binding.js'
import { sqlType } from './column-types.js'
import { destinationTable } from './apply-sql.js'
import { literal, type SqlSession } from './sql-session.js'

/** DuckDB matches names case-insensitively: `public.Orders` and `public.orders` are one table. */
export function nameKey(schema: string, table: string): string {
  return `${schema.toLowerCase()}\u0000${table.toLowerCase()}`
}

export function createTableSql(target: TableTarget): string {
  const columns = target.columns.map((c) => `${quoteIdent(c.name)} ${sqlType(c).name}`)
  if (target.scd === 2) columns.push(`${quoteIdent(START_COLUMN)} TIMESTAMPTZ`, `${quoteIdent(END_COLUMN)} TIMESTAMPTZ`)
  columns.push(`${quoteIdent(LSN_COLUMN)} UBIGINT`, `${quoteIdent(SYNCED_COLUMN)} TIMESTAMPTZ`)
  if (target.partitionColumn === true) columns.push(`${quoteIdent(PARTITION_COLUMN)} UINTEGER`)
  return `CREATE TABLE ${destinationTable(target)} (${columns.join(', ')})`
}

/** DDL for a schema change: renames, new columns (idempotent), widened types. */
export function alterSql(change: SchemaChange, held: ReadonlyMap<string, string> = new Map()): string[] {
  const table = destinationTable(change.target)
  return [
    ...change.renamed.map((r) => `ALTER TABLE ${table} RENAME COLUMN ${quoteIdent(r.from)} TO ${quoteIdent(r.to)}`),
    ...change.added.map((a) => `ALTER TABLE ${table} ADD COLUMN IF NOT EXISTS ${quoteIdent(a.column.name)} ${sqlType(a.column).name}`),
    // (A column widened to text already holds any value of the new type.)
    ...change.retyped.filter((r) => r.widen && held.get(r.column.name) !== 'VARCHAR').map((r) => `ALTER TABLE ${table} ALTER COLUMN ${quoteIdent(r.column.name)} TYPE ${sqlType(r.column).name}`),
  ]
}

/** Rows that existed when a column was added hold its default, or NULL (SCD2: current versions). */
export function fillSql(target: TableTarget, added: readonly AddedColumn[], reset: ReadonlySet<string> = new Set()): string[] {
  const table = destinationTable(target)
  const current = target.scd === 2 ? ` WHERE ${quoteIdent(END_COLUMN)} IS NULL` : ''
  // `target` may carry later names (renames after the addition): the column is found by position.
  return added
    .filter((a) => a.fill !== null || reset.has(a.column.name))
    .map((a) => {
      const column = target.columns.find((c) => c.source === a.column.source) ?? a.column
      const value = a.fill === null ? 'NULL' : sqlType(column).convert(literal(a.fill))
      return `UPDATE ${table} SET ${quoteIdent(column.name)} = ${value}${current}`
    })
}

/** Every table of the file, keyed by nameKey(). */
export async function tableNames(sql: SqlSession): Promise<Set<string>> {
  const rows = await sql.rows<{ schema_name: string; table_name: string }>(`SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = current_database()`)
  return new Set(rows.map((r) => nameKey(r.schema_name, r.table_name)))
}

/** DuckDB reports some types by their long names; the type mapping uses the short ones. */
function shortTypeName(name: string): string {
  return name.replaceAll('TIMESTAMP WITH TIME ZONE', 'TIMESTAMPTZ').replaceAll('TIME WITH TIME ZONE', 'TIMETZ')
}

export async function columnTypes(sql: SqlSession, schema: string, table: string): Promise<Map<string, string>> {
  const rows = await sql.rows<{ column_name: string; data_type: string }>(
    `SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = current_database() AND schema_name = ${literal(schema)} AND table_name = ${literal(table)}`,
  )
  return new Map(rows.map((r) => [r.column_name, shortTypeName(r.data_type)]))
}

/** Creates the schema; two sources' writers creating it at once conflict, so it is retried. */
export async function createSchema(sql: SqlSession, schema: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await sql.run(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`)
      return
    } catch (error) {
      if (attempt >= 5 || !/conflict/i.test((error as Error).message)) throw error
      await new Promise((r) => setTimeout(r, 20 * (attempt + 1)))
    }
  }
}

export async function widenColumn(sql: SqlSession, target: TableTarget, column: TargetColumn): Promise<void> {
  await sql.run(`ALTER TABLE ${destinationTable(target)} ALTER COLUMN ${quoteIdent(column.name)} TYPE ${sqlType(column).name}`)
}

export async function dropColumns(sql: SqlSession, target: TableTarget, names: readonly string[]): Promise<void> {
  for (const name of names) await sql.run(`ALTER TABLE ${destinationTable(target)} DROP COLUMN IF EXISTS ${quoteIdent(name)}`)
}
