/**
 * The snapshot's CSV files (COPY ... CSV FORCE_QUOTE * output, PostgreSQL text forms) into a
 * destination table: DuckDB's parallel CSV reader, the same conversions as streamed values.
 */
import type { SnapshotFile } from '../../model/snapshot-file.js'
import type { TableTarget } from '../../model/table-binding.js'
import { convertedValues, destinationTable, insertColumns } from './apply-sql.js'
import { writeFailure } from './duckdb-errors.js'
import { csvSource } from './stage-file.js'
import { literal, type SqlSession } from './sql-session.js'

export async function loadSnapshotFiles(sql: SqlSession, target: TableTarget, files: readonly SnapshotFile[], snapshotLsn: bigint, snapshotTime: string): Promise<number> {
  const meta = (target.scd === 2 ? [`CAST(${literal(snapshotTime)} AS TIMESTAMPTZ)`, 'NULL'] : []).concat([`CAST(${snapshotLsn} AS UBIGINT)`, 'now()'])
  // (The loader hands over files of one partition at a time where rows record theirs.)
  if (target.partitionColumn === true) meta.push(`CAST(${files[0]?.partition ?? 0} AS UINTEGER)`)
  const source = csvSource(files.map((f) => f.path), target.columns.map((_, i) => `c${i}`), Math.max(0, ...files.map((f) => f.longestLine)))
  try {
    return await sql.change(`INSERT INTO ${destinationTable(target)} (${insertColumns(target)}) SELECT ${convertedValues(target, 's').join(', ')}, ${meta.join(', ')} FROM ${source} s`)
  } catch (cause) {
    throw writeFailure(cause, target)
  }
}
