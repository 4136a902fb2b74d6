/**
 * The pipeline's state in the `_inlet` schema of the DuckDB file: per source its checkpoint and
 * last error (`_inlet.sources`), per table its phase and binding (`_inlet.tables`). Every write
 * that goes with data runs inside the caller's transaction; the others are one statement or one
 * transaction each, so a crash leaves the old state or the new, never none.
 */
import type { LastError, RecordedColumn, SchemaChangeRecord, SourceState, TablePhase, TableState } from '../../model/state.js'
import type { TableTarget } from '../../model/table-binding.js'
import { literal, type SqlSession } from './sql-session.js'

export const STATE_SCHEMA = '_inlet'

const STATE_DDL = [
  `CREATE SCHEMA IF NOT EXISTS ${STATE_SCHEMA}`,
  `CREATE TABLE IF NOT EXISTS ${STATE_SCHEMA}.sources (source VARCHAR NOT NULL, system_id VARCHAR NOT NULL, slot VARCHAR NOT NULL, checkpoint_lsn UBIGINT NOT NULL, checkpoint_commit_time TIMESTAMPTZ, updated_at TIMESTAMPTZ)`,
  `CREATE TABLE IF NOT EXISTS ${STATE_SCHEMA}.tables (source VARCHAR NOT NULL, source_schema VARCHAR NOT NULL, source_table VARCHAR NOT NULL, dest_schema VARCHAR NOT NULL, dest_table VARCHAR NOT NULL, scd INTEGER NOT NULL, phase VARCHAR NOT NULL, snapshot_lsn UBIGINT NOT NULL, snapshot_rows UBIGINT NOT NULL, columns JSON, updated_at TIMESTAMPTZ)`,
  // The table's OID follows it through renames (files written before it was recorded have none).
  `ALTER TABLE ${STATE_SCHEMA}.tables ADD COLUMN IF NOT EXISTS source_oid UBIGINT`,
  // `inlet refresh` sets it; the next run copies the table again beside the current one.
  `ALTER TABLE ${STATE_SCHEMA}.tables ADD COLUMN IF NOT EXISTS refresh_requested BOOLEAN`,
  // For inlet status when no run holds the file.
  `ALTER TABLE ${STATE_SCHEMA}.tables ADD COLUMN IF NOT EXISTS last_commit_time TIMESTAMPTZ`,
  `ALTER TABLE ${STATE_SCHEMA}.sources ADD COLUMN IF NOT EXISTS last_error JSON`,
  // Where the source is (no password), so that inlet status needs only the file.
  `ALTER TABLE ${STATE_SCHEMA}.sources ADD COLUMN IF NOT EXISTS connection VARCHAR`,
  // Each table's schema changes as applied, for the dashboard's table page.
  `CREATE TABLE IF NOT EXISTS ${STATE_SCHEMA}.schema_changes (source VARCHAR NOT NULL, source_schema VARCHAR NOT NULL, source_table VARCHAR NOT NULL, changed_at TIMESTAMPTZ NOT NULL, change VARCHAR NOT NULL)`,
]

export async function createStateSchema(sql: SqlSession): Promise<void> {
  for (const statement of STATE_DDL) await sql.run(statement)
}

/** A file written by an older Inlet and opened read-only may lack columns added since. */
async function hasColumn(sql: SqlSession, table: string, column: string): Promise<boolean> {
  const rows = await sql.rows<{ n: bigint }>(`SELECT count(*) AS n FROM duckdb_columns() WHERE schema_name = '${STATE_SCHEMA}' AND table_name = ${literal(table)} AND column_name = ${literal(column)}`)
  return Number(rows[0]?.n ?? 0) > 0
}

async function hasTable(sql: SqlSession, table: string): Promise<boolean> {
  const rows = await sql.rows<{ n: bigint }>(`SELECT count(*) AS n FROM duckdb_tables() WHERE schema_name = '${STATE_SCHEMA}' AND table_name = ${literal(table)}`)
  return Number(rows[0]?.n ?? 0) > 0
}

export async function readSource(sql: SqlSession, source: string): Promise<SourceState | undefined> {
  return (await readSourceRows(sql, `WHERE source = ${literal(source)}`))[0]
}

/** Every source the file holds, by name. */
export function listSources(sql: SqlSession): Promise<SourceState[]> {
  return readSourceRows(sql, 'ORDER BY source')
}

async function readSourceRows(sql: SqlSession, tail: string): Promise<SourceState[]> {
  const error = (await hasColumn(sql, 'sources', 'last_error')) ? 'last_error' : 'NULL'
  const connection = (await hasColumn(sql, 'sources', 'connection')) ? 'connection' : 'NULL'
  const rows = await sql.rows<{ source: string; system_id: string; slot: string; checkpoint_lsn: bigint; commit_time: string | null; updated: string | null; error: string | null; url: string | null }>(
    `SELECT source, system_id, slot, checkpoint_lsn, CAST(checkpoint_commit_time AS VARCHAR) AS commit_time, CAST(updated_at AS VARCHAR) AS updated, CAST(${error} AS VARCHAR) AS error, ${connection} AS url FROM ${STATE_SCHEMA}.sources ${tail}`,
  )
  return rows.map((row) => ({
    source: row.source,
    systemId: row.system_id,
    slot: row.slot,
    checkpointLsn: BigInt(row.checkpoint_lsn),
    checkpointCommitTime: row.commit_time,
    updatedAt: row.updated,
    lastError: row.error === null ? null : (JSON.parse(row.error) as LastError),
    connection: row.url,
  }))
}

export async function writeSourceConnection(sql: SqlSession, source: string, url: string): Promise<void> {
  await sql.run(`UPDATE ${STATE_SCHEMA}.sources SET connection = ${literal(url)} WHERE source = ${literal(source)} AND connection IS DISTINCT FROM ${literal(url)}`)
}

/** Replaces the source's row in one transaction: a crash never leaves it without one. */
export async function writeSource(sql: SqlSession, state: SourceState): Promise<void> {
  await sql.atomically(async () => {
    await sql.run(`DELETE FROM ${STATE_SCHEMA}.sources WHERE source = ${literal(state.source)}`)
    await sql.run(
      `INSERT INTO ${STATE_SCHEMA}.sources (source, system_id, slot, checkpoint_lsn, checkpoint_commit_time, updated_at, connection) ` +
        `VALUES (${literal(state.source)}, ${literal(state.systemId)}, ${literal(state.slot)}, ${state.checkpointLsn}, NULL, now(), ${state.connection == null ? 'NULL' : literal(state.connection)})`,
    )
  })
}

export async function readCheckpointLsn(sql: SqlSession, source: string): Promise<bigint | undefined> {
  const rows = await sql.rows<{ lsn: bigint }>(`SELECT checkpoint_lsn AS lsn FROM ${STATE_SCHEMA}.sources WHERE source = ${literal(source)}`)
  return rows[0] === undefined ? undefined : BigInt(rows[0].lsn)
}

/** The checkpoint (and its commit time, when the batch applied a transaction). */
export async function writeCheckpoint(sql: SqlSession, source: string, lsn: bigint, commitTime: string | null): Promise<void> {
  const time = commitTime === null ? 'checkpoint_commit_time' : `CAST(${literal(commitTime)} AS TIMESTAMPTZ)`
  await sql.run(`UPDATE ${STATE_SCHEMA}.sources SET checkpoint_lsn = ${lsn}, checkpoint_commit_time = ${time}, updated_at = now() WHERE source = ${literal(source)}`)
}

export async function writeLastError(sql: SqlSession, source: string, error: LastError): Promise<void> {
  await sql.run(`UPDATE ${STATE_SCHEMA}.sources SET last_error = ${literal(JSON.stringify(error))} WHERE source = ${literal(source)}`)
}

/** Per table, the commit time of the last transaction applied to it (in the batch's transaction). */
export async function writeCommitTimes(sql: SqlSession, source: string, times: ReadonlyArray<{ readonly schema: string; readonly table: string; readonly commitTime: string }>): Promise<void> {
  if (times.length === 0) return
  const values = times.map((t) => `(${literal(t.schema)}, ${literal(t.table)}, CAST(${literal(t.commitTime)} AS TIMESTAMPTZ))`).join(', ')
  await sql.run(`UPDATE ${STATE_SCHEMA}.tables AS t SET last_commit_time = v.ts FROM (VALUES ${values}) AS v(s, n, ts) WHERE t.source = ${literal(source)} AND t.source_schema = v.s AND t.source_table = v.n`)
}

export async function readTables(sql: SqlSession, source: string): Promise<TableState[]> {
  const commitTime = (await hasColumn(sql, 'tables', 'last_commit_time')) ? 'last_commit_time' : 'NULL'
  const rows = await sql.rows<{ source_schema: string; source_table: string; dest_schema: string; dest_table: string; scd: number; phase: TablePhase; snapshot_lsn: bigint; snapshot_rows: bigint; columns: string | null; source_oid: bigint | null; refresh_requested: boolean | null; commit_time: string | null }>(
    `SELECT *, CAST(${commitTime} AS VARCHAR) AS commit_time FROM ${STATE_SCHEMA}.tables WHERE source = ${literal(source)}`,
  )
  return rows.map((r) => ({
    sourceSchema: r.source_schema,
    sourceTable: r.source_table,
    destSchema: r.dest_schema,
    destTable: r.dest_table,
    scd: r.scd === 2 ? 2 : 1,
    phase: r.phase,
    snapshotLsn: BigInt(r.snapshot_lsn),
    snapshotRows: BigInt(r.snapshot_rows),
    sourceOid: r.source_oid === null ? undefined : Number(r.source_oid),
    refreshRequested: r.refresh_requested === true,
    lastCommitTime: r.commit_time,
    columns: r.columns === null ? [] : (JSON.parse(r.columns) as RecordedColumn[]),
  }))
}

/** The table's state row: by OID (a table dropped and created again under its name is another), by name in files without OIDs. */
export function tableWhere(target: TableTarget): string {
  const byName = `source_schema = ${literal(target.table.schema)} AND source_table = ${literal(target.table.name)}`
  return `source = ${literal(target.sourceName)} AND (source_oid = ${target.table.oid} OR (source_oid IS NULL AND ${byName}))`
}

function columnsJson(target: TableTarget): string {
  // Enough to bind the table again from this record alone once the source table is gone.
  return JSON.stringify(target.columns.map((c, i) => ({ name: c.name, attnum: c.source.attnum, source_type: c.source.typeName, type: c.type.name, key: target.key.includes(i), source: c.source })))
}

/** The table's state row, replacing any other for the same source table or destination table. */
export async function writeTable(sql: SqlSession, target: TableTarget, phase: TablePhase, snapshotLsn: bigint, snapshotRows: bigint): Promise<void> {
  await sql.atomically(async () => {
    // (By destination too: a table renamed in the source keeps one state row.)
    await sql.run(`DELETE FROM ${STATE_SCHEMA}.tables WHERE (${tableWhere(target)}) OR (source = ${literal(target.sourceName)} AND dest_schema = ${literal(target.destSchema)} AND dest_table = ${literal(target.destName)})`)
    await sql.run(
      `INSERT INTO ${STATE_SCHEMA}.tables (source, source_schema, source_table, dest_schema, dest_table, scd, phase, snapshot_lsn, snapshot_rows, columns, updated_at, source_oid) ` +
        `VALUES (${literal(target.sourceName)}, ${literal(target.table.schema)}, ${literal(target.table.name)}, ${literal(target.destSchema)}, ${literal(target.destName)}, ${target.scd}, '${phase}', ${snapshotLsn}, ${snapshotRows}, ${literal(columnsJson(target))}, now(), ${target.table.oid})`,
    )
  })
}

/** Records the columns a table streams after a schema change (in the batch's transaction). */
export async function writeColumns(sql: SqlSession, target: TableTarget): Promise<void> {
  await sql.run(`UPDATE ${STATE_SCHEMA}.tables SET columns = ${literal(columnsJson(target))}, updated_at = now() WHERE ${tableWhere(target)}`)
}

/** Appends a table's schema changes to its history (in the batch's transaction). */
export async function writeSchemaChanges(sql: SqlSession, target: TableTarget, changes: readonly string[]): Promise<void> {
  if (changes.length === 0) return
  const values = changes.map((c) => `(${literal(target.sourceName)}, ${literal(target.table.schema)}, ${literal(target.table.name)}, now(), ${literal(c)})`).join(', ')
  await sql.run(`INSERT INTO ${STATE_SCHEMA}.schema_changes VALUES ${values}`)
}

/** A table's schema changes, oldest first (none in a file written before the history was kept). */
export async function readSchemaChanges(sql: SqlSession, source: string, schema: string, table: string): Promise<SchemaChangeRecord[]> {
  if (!(await hasTable(sql, 'schema_changes'))) return []
  const rows = await sql.rows<{ at: string; change: string }>(
    `SELECT strftime(changed_at AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%gZ') AS at, change FROM ${STATE_SCHEMA}.schema_changes WHERE source = ${literal(source)} AND source_schema = ${literal(schema)} AND source_table = ${literal(table)} ORDER BY changed_at, rowid`,
  )
  return rows.map((r) => ({ at: r.at, change: r.change }))
}

export async function markDropped(sql: SqlSession, target: TableTarget): Promise<void> {
  await sql.run(`UPDATE ${STATE_SCHEMA}.tables SET phase = 'dropped', updated_at = now() WHERE ${tableWhere(target)}`)
}

export async function markRefresh(sql: SqlSession, source: string, schema: string, table: string, requested: boolean): Promise<boolean> {
  const where = `source = ${literal(source)} AND source_schema = ${literal(schema)} AND source_table = ${literal(table)} AND phase = 'streaming'`
  const changed = await sql.change(`UPDATE ${STATE_SCHEMA}.tables SET refresh_requested = ${requested}, updated_at = now() WHERE ${where}`)
  return changed > 0
}

export async function followRename(sql: SqlSession, state: TableState, target: TableTarget): Promise<void> {
  await sql.run(
    `UPDATE ${STATE_SCHEMA}.tables SET source_schema = ${literal(target.table.schema)}, source_table = ${literal(target.table.name)}, updated_at = now() ` +
      `WHERE source = ${literal(target.sourceName)} AND ` +
      (state.sourceOid !== undefined ? `source_oid = ${state.sourceOid}` : `source_schema = ${literal(state.sourceSchema)} AND source_table = ${literal(state.sourceTable)}`),
  )  // Its schema-change history follows it (none in files written before the history was kept).
  if (await hasTable(sql, 'schema_changes')) {
    await sql.run(`UPDATE ${STATE_SCHEMA}.schema_changes SET source_schema = ${literal(target.table.schema)}, source_table = ${literal(target.table.name)} WHERE source = ${literal(target.sourceName)} AND source_schema = ${literal(state.sourceSchema)} AND source_table = ${literal(state.sourceTable)}`)
  }
}
