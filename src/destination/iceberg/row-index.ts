/**
 * Where each row of a table's current Iceberg snapshot sits: its identity, data file and position,
 * kept in the mirror (`_inlet_rows`) and changed in the same transaction as the mirror's rows and
 * the version the commit records, so it always describes the version the mirror expects current.
 *
 * With it a commit removes rows by **position deletes** (file and position) rather than equality
 * deletes: every engine that reads Iceberg v2 applies them, several read no equality deletes at
 * all, and a reader never compares a delete with every row of the table. A table without an
 * index (written before Inlet kept one, or whose index disagrees with a window) is written whole
 * once, which builds it.
 *
 * A row's identity is the MD5 of its values as written to Iceberg (each value's text with its
 * byte length in front, NULL apart, timestamps with time zone as epoch microseconds so that no
 * session time zone enters): equal rows, the duplicates of a keyless table, share it and are
 * told apart by numbering. Positions are read back from the files written (DuckDB's
 * file_row_number) rather than assumed from the order of the write.
 */
import { quoteIdent } from '../../postgres/sql-text.js'
import { literal, type SqlSession } from '../duckdb/sql-session.js'
import { writtenType, type IcebergSchema, type MirrorColumn } from './iceberg-schema.js'

const SCHEMA = '_inlet_rows'

/** What names a table. */
export interface IndexedTable {
  readonly destSchema: string
  readonly destName: string
}

/** The index table of a destination table (the length keeps `a.b`+`c` apart from `a`+`b.c`). */
export function rowIndex(t: IndexedTable): string {
  return `${SCHEMA}.${quoteIdent(`${t.destSchema.length}:${t.destSchema}.${t.destName}`)}`
}

/** The schema of position delete files: the spec's reserved field ids. */
export const POSITION_DELETES: IcebergSchema = {
  type: 'struct',
  'schema-id': 0,
  fields: [
    { id: 2147483546, name: 'file_path', required: true, type: 'string' },
    { id: 2147483545, name: 'pos', required: true, type: 'long' },
  ],
}

const ZONED = /^(TIMESTAMPTZ|TIMESTAMP WITH TIME ZONE)$/

/**
 * A value in a form whose text does not depend on the session (lists element by element): a
 * timestamptz as epoch microseconds, ±infinity as its text (epoch_us gives NULL for it).
 */
function canonical(type: string, v: string, depth: number): string {
  if (type.endsWith('[]')) return `list_transform(${v}, lambda e${depth}: ${canonical(type.slice(0, -2), `e${depth}`, depth + 1)})`
  return ZONED.test(type) ? `CASE WHEN isfinite(${v}) THEN CAST(epoch_us(${v}) AS VARCHAR) ELSE CAST(${v} AS VARCHAR) END` : v
}

/** The identity of a row of `columns` (as the mirror holds them, or as the files hold them), read through `alias`. */
export function rowIdentity(columns: readonly MirrorColumn[], alias: string): string {
  const parts = columns.map((c) => {
    const written = writtenType(c.type)
    const v = canonical(written, `CAST(${alias}.${quoteIdent(c.name)} AS ${written})`, 0)
    const text = written.endsWith('[]') ? `CAST(to_json(${v}) AS VARCHAR)` : `CAST(${v} AS VARCHAR)`
    return `coalesce(CAST(strlen(${text}) AS VARCHAR) || ':' || ${text}, '~')`
  })
  return `md5_number(concat(${parts.join(', ')}))`
}

export async function hasRowIndex(sql: SqlSession, t: IndexedTable): Promise<boolean> {
  const rows = await sql.rows<{ n: bigint }>(`SELECT count(*) AS n FROM duckdb_tables() WHERE schema_name = '${SCHEMA}' AND table_name = ${literal(`${t.destSchema.length}:${t.destSchema}.${t.destName}`)}`)
  return Number(rows[0]?.n ?? 0) > 0
}

/** An empty index for a table written whole. */
export async function resetRowIndex(sql: SqlSession, t: IndexedTable): Promise<void> {
  await sql.run(`CREATE SCHEMA IF NOT EXISTS ${SCHEMA}`)
  await sql.run(`CREATE OR REPLACE TABLE ${rowIndex(t)} (id UHUGEINT NOT NULL, file VARCHAR NOT NULL, pos BIGINT NOT NULL)`)
}

/** A data file written: a local copy to read it back from, and where it is in the warehouse. */
export interface WrittenFile {
  readonly local: string
  readonly location: string
}

/** Adds the rows of data files just written (read back from their local copies). */
export async function indexFiles(sql: SqlSession, t: IndexedTable, columns: readonly MirrorColumn[], files: readonly WrittenFile[]): Promise<void> {
  for (const f of files) {
    await sql.run(`INSERT INTO ${rowIndex(t)} SELECT ${rowIdentity(columns, 'r')}, ${literal(f.location)}, file_row_number FROM read_parquet(${literal(f.local)}, file_row_number = true) r`)
  }
}

/**
 * Into the temp table `into` (rowid r, file_path, pos): for each row of `gone` (the mirror's rows
 * a commit removes, duplicates included, with their identity as `__inlet_id`), one index entry of
 * the same identity. False when some row has none: the index does not describe the table, which
 * is then written whole.
 */
export async function positionsOf(sql: SqlSession, t: IndexedTable, gone: string, into: string): Promise<boolean> {
  await sql.run(`CREATE OR REPLACE TEMP TABLE ${into} AS
    WITH g AS (SELECT __inlet_id AS id, row_number() OVER (PARTITION BY __inlet_id) AS n FROM ${gone}),
    i AS (SELECT rowid AS r, id, file, pos, row_number() OVER (PARTITION BY id ORDER BY file, pos) AS n FROM ${rowIndex(t)} WHERE id IN (SELECT id FROM g))
    SELECT i.r, i.file AS file_path, i.pos FROM g JOIN i USING (id, n)`)
  const rows = await sql.rows<{ found: bigint; wanted: bigint }>(`SELECT (SELECT count(*) FROM ${into}) AS found, (SELECT count(*) FROM ${gone}) AS wanted`)
  return rows[0]?.found === rows[0]?.wanted
}

/** Forgets the entries `positionsOf` took (their rows are deleted). */
export async function dropPositions(sql: SqlSession, t: IndexedTable, positions: string): Promise<void> {
  await sql.run(`DELETE FROM ${rowIndex(t)} WHERE rowid IN (SELECT r FROM ${positions})`)
}

/**
 * For the tests' strict mode: the columns whose values in `gone` the table's data files do not
 * hold in the same form (what makes an identity differ). Reads every indexed file (file warehouses).
 */
export async function explainMismatch(sql: SqlSession, t: IndexedTable, columns: readonly MirrorColumn[], gone: string): Promise<string[]> {
  const files = (await sql.rows<{ file: string }>(`SELECT DISTINCT file FROM ${rowIndex(t)}`)).map((r) => literal(r.file))
  if (files.length === 0) return ['no indexed files']
  const differing: string[] = []
  for (const c of columns) {
    const one = [c]
    const rows = await sql.rows<{ n: bigint }>(`SELECT count(*) AS n FROM (SELECT ${rowIdentity(one, 'x')} FROM ${gone} x EXCEPT SELECT ${rowIdentity(one, 'x')} FROM read_parquet([${files.join(', ')}]) x)`)
    if (Number(rows[0]?.n ?? 0) > 0) differing.push(`${c.name} ${c.type}`)
  }
  return differing
}
