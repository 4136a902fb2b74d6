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
  // The rows were read before the consistent point: their LSN is just below it. A transaction
  // may commit at the consistent point itself, and SCD2 takes a version of the same LSN for one
  // of the same transaction (replaced, not closed): the snapshot's must differ.
  const rowsLsn = snapshotLsn > 0n ? snapshotLsn - 1n : 0n
  const meta = (target.scd === 2 ? [`CAST(${literal(snapshotTime)} AS TIMESTAMPTZ)`, 'NULL'] : []).concat([`CAST(${rowsLsn} AS UBIGINT)`, 'now()'])
  // (The loader hands over files of one partition at a time where rows record theirs.)
  if (target.partitionColumn === true) meta.push(`CAST(${files[0]?.partition ?? 0} AS UINTEGER)`)
  const source = csvSource(files.map((f) => f.path), target.columns.map((_, i) => `c${i}`), Math.max(0, ...files.map((f) => f.longestLine)))
  try {
    return await sql.change(`INSERT INTO ${destinationTable(target)} (${insertColumns(target)}) SELECT ${convertedValues(target, 's').join(', ')}, ${meta.join(', ')} FROM ${source} s`)
  } catch (cause) {
    throw writeFailure(cause, target)
  }
}
