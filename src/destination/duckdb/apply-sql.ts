/**
 * The SQL that applies a staged segment to a destination table (see pipeline/table-changes.ts for
 * what the staging rows mean). Statements run in this order inside the batch's transaction:
 * resolve unchanged TOAST values from the rows about to be replaced, remove (SCD1) or close (SCD2)
 * what the segment supersedes, insert the new rows or versions.
 */
import { quoteIdent } from '../../postgres/sql-text.js'
import { END_COLUMN, LSN_COLUMN, PARTITION_COLUMN, START_COLUMN, SYNCED_COLUMN, type TableTarget, type TargetColumn } from '../../model/table-binding.js'
import { sqlType } from './column-types.js'

const START = quoteIdent(START_COLUMN)
const END = quoteIdent(END_COLUMN)
const PART = quoteIdent(PARTITION_COLUMN)

/** Staging columns after the values c0..cN-1 (`part`: the row's leaf partition, where recorded). */
export function stageMetaColumns(target: TableTarget): string[] {
  return ['op', 'toast', ...target.key.map((_, j) => `lk${j}`), 'lsn', 'ts', 'end_ts', 'first', 'n', 'grp', ...(target.partitionColumn === true ? ['part'] : [])]
}

export function destinationTable(target: Pick<TableTarget, 'destSchema' | 'destName'>): string {
  return `${quoteIdent(target.destSchema)}.${quoteIdent(target.destName)}`
}

/** Where a segment's staged rows are read: `relation` (a table or a table function, all VARCHAR); `name` prefixes helper tables. */
export interface Stage {
  readonly relation: string
  /** Keyed SCD1: the staged rows' key values alone (columns named like their value columns). */
  readonly keys?: string
  readonly name: string
}

/** The destination's column list, in table order. */
export function insertColumns(target: TableTarget): string {
  const names = target.columns.map((c) => quoteIdent(c.name))
  if (target.scd === 2) names.push(START, END)
  names.push(quoteIdent(LSN_COLUMN), quoteIdent(SYNCED_COLUMN))
  if (target.partitionColumn === true) names.push(PART)
  return names.join(', ')
}

/** Inlet's own values of a staged row `s`, in insertColumns() order after the source's. */
function metaValues(target: TableTarget, s: string): string {
  const values = target.scd === 2 ? [`CAST(${s}.ts AS TIMESTAMPTZ)`, `CAST(${s}.end_ts AS TIMESTAMPTZ)`] : []
  values.push(`CAST(${s}.lsn AS UBIGINT)`, 'now()')
  if (target.partitionColumn === true) values.push(`CAST(${s}.part AS UINTEGER)`)
  return values.join(', ')
}

/**
 * Where each of the target's columns is in the staged rows: `at[i]` for column i (`c${at[i]}`).
 * Rows staged before later schema changes keep their own layout while the target they apply to
 * has later names and lacks dropped columns; without `at`, column i is `c${i}`.
 */
export type StagedPositions = readonly number[] | undefined

/** Converted values of the staging (or CSV) row `alias`, in destination order. */
export function convertedValues(target: TableTarget, alias: string, at?: StagedPositions): string[] {
  return target.columns.map((c, i) => sqlType(c).convert(`${alias}.c${at?.[i] ?? i}`))
}

function keyMatch(target: TableTarget, t: string, s: string, column: (j: number, i: number) => string): string {
  return target.key
    .map((i, j) => {
      const c = target.columns[i] as TargetColumn
      return `${t}.${quoteIdent(c.name)} = ${sqlType(c).convert(`${s}.${column(j, i)}`)}`
    })
    .join(' AND ')
}

function rowMatch(target: TableTarget, t: string, s: string, at: StagedPositions): string {
  const values = target.columns.map((c, i) => `${t}.${quoteIdent(c.name)} IS NOT DISTINCT FROM ${sqlType(c).convert(`${s}.c${at?.[i] ?? i}`)}`)
  // Equal rows of two partitions are two rows.
  if (target.partitionColumn === true) values.push(`${t}.${PART} IS NOT DISTINCT FROM CAST(${s}.part AS UINTEGER)`)
  return values.join(' AND ')
}

/** Statements for one staged segment; `hasToast`: some staged row needs values from the destination. */
export function applySegmentSql(target: TableTarget, staged: Stage, hasToast: boolean, at?: StagedPositions): string[] {
  const p = (i: number) => at?.[i] ?? i
  const stage = staged.relation
  const resolvedTable = `${staged.name}_resolved`
  const table = destinationTable(target)
  const cols = insertColumns(target)
  const values = convertedValues(target, 's', at).join(', ')
  const meta = (s: string) => metaValues(target, s)
  const statements: string[] = []

  if (target.key.length === 0) {
    if (target.scd === 1) {
      statements.push(
        `DELETE FROM ${table} WHERE rowid IN (SELECT rid FROM (SELECT t.rowid AS rid, CAST(s.n AS BIGINT) AS n, row_number() OVER (PARTITION BY s.grp ORDER BY t.rowid) AS rn ` +
          `FROM ${table} t JOIN ${stage} s ON s.op = 'X' AND ${rowMatch(target, 't', 's', at)}) WHERE rn <= n)`,
        `INSERT INTO ${table} (${cols}) SELECT ${values}, ${meta('s')} FROM (SELECT *, unnest(range(CAST(n AS BIGINT))) AS copy FROM ${stage} WHERE op = 'I') s`,
      )
      return statements
    }
    // A close of a version that the same source transaction opened (staged before a schema change
    // or in an earlier part of the transaction) removes that version: one version per transaction,
    // as within a segment. The closes left close current versions, as many as there are.
    const same = `${staged.name}_same`
    const lsn = `t.${quoteIdent(LSN_COLUMN)}`
    statements.push(
      `CREATE OR REPLACE TEMP TABLE ${same} AS SELECT rid, grp, lsn FROM (SELECT t.rowid AS rid, s.grp, s.lsn, s.closes, row_number() OVER (PARTITION BY s.grp, s.lsn ORDER BY t.rowid) AS rn FROM ${table} t ` +
        `JOIN (SELECT DISTINCT ON (grp, lsn) *, count(*) OVER (PARTITION BY grp, lsn) AS closes FROM ${stage} WHERE op = 'C') s ON t.${END} IS NULL AND ${lsn} = CAST(s.lsn AS UBIGINT) AND ${rowMatch(target, 't', 's', at)}) WHERE rn <= closes`,
      `DELETE FROM ${table} WHERE rowid IN (SELECT rid FROM ${same})`,
      `UPDATE ${table} SET ${END} = m.ts FROM (SELECT c.rid, cl.ts FROM ` +
        `(SELECT t.rowid AS rid, s.grp, row_number() OVER (PARTITION BY s.grp ORDER BY t.rowid) AS rn FROM ${table} t ` +
        `JOIN (SELECT DISTINCT ON (grp) * FROM ${stage} WHERE op = 'C') s ON t.${END} IS NULL AND ${rowMatch(target, 't', 's', at)}) c ` +
        `JOIN (SELECT grp, ts, row_number() OVER (PARTITION BY grp ORDER BY CAST(lsn AS UBIGINT)) AS k FROM ` +
        `(SELECT grp, lsn, CAST(ts AS TIMESTAMPTZ) AS ts, row_number() OVER (PARTITION BY grp, lsn) AS j FROM ${stage} WHERE op = 'C') x ` +
        `WHERE j > (SELECT count(*) FROM ${same} d WHERE d.grp = x.grp AND d.lsn = x.lsn)) cl ` +
        `ON cl.grp = c.grp AND cl.k = c.rn) m WHERE ${table}.rowid = m.rid`,
      `INSERT INTO ${table} (${cols}) SELECT ${values}, ${meta('s')} FROM ${stage} s WHERE s.op = 'V'`,
    )
    return statements
  }

  const upsertOp = target.scd === 1 ? 'U' : 'V'
  if (hasToast) {
    const current = target.scd === 2 ? ` AND t.${END} IS NULL` : ''
    const resolved = target.columns.map((c, i) => `CASE WHEN substr(s.toast, ${p(i) + 1}, 1) = '1' THEN t.${quoteIdent(c.name)} ELSE ${sqlType(c).convert(`s.c${p(i)}`)} END AS c${i}`)
    statements.push(
      `CREATE OR REPLACE TEMP TABLE ${resolvedTable} AS SELECT ${resolved.join(', ')}, s.lsn, s.ts, s.end_ts${target.partitionColumn === true ? ', s.part' : ''} FROM ${stage} s ` +
        `LEFT JOIN ${table} t ON ${keyMatch(target, 't', 's', (j) => `lk${j}`)}${current} WHERE s.op = '${upsertOp}' AND s.toast IS NOT NULL`,
    )
  }
  const keyOfStage = keyMatch(target, 't', 's', (_, i) => `c${p(i)}`)
  if (target.scd === 1) {
    statements.push(`DELETE FROM ${table} t USING ${staged.keys ?? stage} s WHERE ${keyOfStage}`)
  } else {
    // A version of the same source transaction (a transaction split over segments) is replaced, not closed.
    statements.push(
      `DELETE FROM ${table} t USING ${stage} s WHERE s.first = '1' AND t.${END} IS NULL AND ${keyOfStage} AND t.${quoteIdent(LSN_COLUMN)} = CAST(s.lsn AS UBIGINT)`,
      `UPDATE ${table} t SET ${END} = CAST(s.ts AS TIMESTAMPTZ) FROM ${stage} s WHERE s.first = '1' AND t.${END} IS NULL AND ${keyOfStage}`,
    )
  }
  statements.push(`INSERT INTO ${table} (${cols}) SELECT ${values}, ${meta('s')} FROM ${stage} s WHERE s.op = '${upsertOp}' AND s.toast IS NULL`)
  if (hasToast) {
    const plain = target.columns.map((_, i) => `s.c${i}`).join(', ')
    statements.push(`INSERT INTO ${table} (${cols}) SELECT ${plain}, ${meta('s')} FROM ${resolvedTable} s`)
  }
  return statements
}

/**
 * TRUNCATE (SCD2: every current version closed), of the whole table or, with `partition`, of the
 * rows of that leaf partition; also what a detached partition's rows get.
 */
export function truncateSql(target: TableTarget, commit: { readonly lsn: string; readonly ts: string }, partition?: number): string[] {
  const table = destinationTable(target)
  const inPartition = partition === undefined ? [] : [`${PART} = ${partition}`]
  const where = (...conditions: string[]) => (conditions.length === 0 ? '' : ` WHERE ${conditions.join(' AND ')}`)
  if (target.scd === 1) return [`DELETE FROM ${table}${where(...inPartition)}`]
  // Versions the truncating transaction itself opened (before it, in an earlier segment) are no
  // versions: removed, not closed at their own commit (one version per key and transaction).
  return [
    `DELETE FROM ${table}${where(`${END} IS NULL`, `${quoteIdent(LSN_COLUMN)} = ${BigInt(commit.lsn)}`, ...inPartition)}`,
    `UPDATE ${table} SET ${END} = CAST('${commit.ts}' AS TIMESTAMPTZ)${where(`${END} IS NULL`, ...inPartition)}`,
  ]
}
