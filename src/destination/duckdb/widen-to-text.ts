/**
 * Values a DuckDB column cannot hold: NaN in a numeric(p,s) (DECIMAL has no NaN), an infinite
 * interval (PostgreSQL 17+), an array with explicit lower bounds, a timestamp past DuckDB's range.
 * PostgreSQL accepts them in any such column, so they cannot be foreseen from the type; refusing
 * them would stop the pipeline for good (every restart replays the same batch), and dropping or
 * rounding them would lose data. So the column is widened to VARCHAR, PostgreSQL's exact text
 * form, as unconstrained numeric is from the start: the values it held are rendered as
 * PostgreSQL prints them, and from then on values go in as text. A schema change the run logs.
 *
 * Found by converting each staged value with TRY() after a write failed on a value: the columns
 * where a value does not convert are the ones widened.
 */
import { quoteIdent } from '../../postgres/sql-text.js'
import type { TableTarget, TargetColumn } from '../../model/table-binding.js'
import { destinationTable } from './apply-sql.js'
import { sqlType } from './column-types.js'
import { csvSource } from './stage-file.js'
import { literal, type SqlSession } from './sql-session.js'
import { columnTypes } from './table-ddl.js'
import { isValueError } from './duckdb-errors.js'

/** A column widened to text, for the run's log. */
export interface WidenedColumn {
  readonly table: string
  readonly column: string
  readonly from: string
}

/** Staged values of one target in a CSV file (c0, c1, … in the target's column order). */
export interface StagedValues {
  readonly target: TableTarget
  readonly files: readonly string[]
  readonly names: readonly string[]
  readonly longestLine: number
}

/** A value an added column gives the rows that existed (ADD COLUMN ... DEFAULT). */
export interface FillValue {
  readonly target: TableTarget
  readonly column: TargetColumn
  readonly fill: string
}

/** Columns of the staged values (and of added columns' fills) that hold a value their DuckDB type cannot. */
export async function unfitColumns(sql: SqlSession, staged: readonly StagedValues[], fills: readonly FillValue[] = []): Promise<Map<TableTarget, Set<string>>> {
  const unfit = new Map<TableTarget, Set<string>>()
  for (const f of fills) {
    const type = sqlType(f.column)
    if (type.name === 'VARCHAR') continue
    const [row] = await sql.rows<{ bad: boolean }>(`SELECT TRY(${type.convert(literal(f.fill))}) IS NULL AS bad`)
    if (row?.bad === true) unfit.set(f.target, (unfit.get(f.target) ?? new Set<string>()).add(f.column.name))
  }
  for (const s of staged) {
    const typed = s.target.columns.map((c, i) => ({ c, i })).filter(({ c }) => sqlType(c).name !== 'VARCHAR')
    if (typed.length === 0 || s.files.length === 0) continue
    const checks = typed.map(({ c, i }) => `bool_or(s.c${i} IS NOT NULL AND TRY(${sqlType(c).convert(`s.c${i}`)}) IS NULL) AS u${i}`)
    const [row] = await sql.rows<Record<string, boolean | null>>(`SELECT ${checks.join(', ')} FROM ${csvSource(s.files, s.names, s.longestLine)} s`)
    for (const { c, i } of typed) {
      if (row?.[`u${i}`] !== true) continue
      const set = unfit.get(s.target) ?? new Set<string>()
      unfit.set(s.target, set.add(c.name))
    }
  }
  return unfit
}

/** Widens the columns (those not VARCHAR already) to text, rendering the values they hold as PostgreSQL prints them. */
export async function widenToText(sql: SqlSession, target: TableTarget, columns: ReadonlySet<string>): Promise<WidenedColumn[]> {
  const held = await columnTypes(sql, target.destSchema, target.destName)
  const widened: WidenedColumn[] = []
  for (const column of columns) {
    const from = held.get(column)
    if (from === undefined || from === 'VARCHAR') continue
    const c = quoteIdent(column)
    await sql.run(`ALTER TABLE ${destinationTable(target)} ALTER COLUMN ${c} SET DATA TYPE VARCHAR USING ${pgText(from, c)}`)
    widened.push({ table: `${target.destSchema}.${target.destName}`, column, from })
  }
  return widened
}

/**
 * SQL rendering the DuckDB value `x` of type `type` as PostgreSQL's text form under the session
 * settings Inlet pins (ISO dates, UTC, IntervalStyle postgres, hex bytea, shortest floats).
 */
export function pgText(type: string, x: string): string {
  if (type.endsWith('[]')) {
    const element = type.slice(0, -2)
    const inner = element.endsWith('[]') ? pgText(element, 'e') : `CASE WHEN e IS NULL THEN 'NULL' ELSE ${arrayElement(pgText(element, 'e'))} END`
    return `CASE WHEN ${x} IS NULL THEN NULL ELSE '{' || array_to_string(list_transform(${x}, lambda e: ${inner}), ',') || '}' END`
  }
  if (/^(DECIMAL\(.*\)|U?(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT)|UUID|VARCHAR|JSON|TIME|TIMETZ)$/.test(type)) return `CAST(${x} AS VARCHAR)`
  if (type === 'BOOLEAN') return `CASE WHEN ${x} IS NULL THEN NULL WHEN ${x} THEN 't' ELSE 'f' END`
  if (type === 'FLOAT' || type === 'DOUBLE') {
    return `CASE WHEN isnan(${x}) THEN 'NaN' WHEN ${x} = 'infinity' THEN 'Infinity' WHEN ${x} = '-infinity' THEN '-Infinity' ELSE regexp_replace(CAST(${x} AS VARCHAR), '\\.0$', '') END`
  }
  if (type === 'BLOB') return `'\\x' || lower(hex(${x}))`
  if (type === 'INTERVAL') return interval(x)
  if (type === 'DATE' || type === 'TIMESTAMP' || type === 'TIMESTAMPTZ') {
    // DuckDB prints `0044-03-15 (BC) 12:00:00`, PostgreSQL `0044-03-15 12:00:00 BC`.
    return `regexp_replace(CAST(${x} AS VARCHAR), '^(\\S+) \\(BC\\)(.*)$', '\\1\\2 BC')`
  }
  return `CAST(${x} AS VARCHAR)`
}

/** An array element as PostgreSQL's array text writes it: quoted when it must be, `\` and `"` escaped. (SQL literals keep backslashes as they are.) */
function arrayElement(text: string): string {
  return `CASE WHEN ${text} = '' OR regexp_matches(${text}, '[{}," \\\\\\t\\n\\r]') OR upper(${text}) = 'NULL' THEN '"' || replace(replace(${text}, '\\', '\\\\'), '"', '\\"') || '"' ELSE ${text} END`
}

/**
 * IntervalStyle postgres: `1 year 2 mons -3 days +04:05:06.789`. Fields as PostgreSQL splits
 * them (C division, toward zero); a field after a negative one shows its '+'.
 */
function interval(x: string): string {
  const months = `(datepart('year', ${x}) * 12 + datepart('month', ${x}))`
  const y = `(${months} // 12)`
  const mo = `(${months} % 12)`
  const d = `datepart('day', ${x})`
  // The time field alone (no month arithmetic, which overflows for intervals of millions of years).
  const us = `(datepart('hour', ${x}) * 3600000000 + datepart('minute', ${x}) * 60000000 + datepart('microseconds', ${x}))`
  const h = `(${us} // 3600000000)`
  const mi = `((${us} % 3600000000) // 60000000)`
  const s = `((${us} % 60000000) // 1000000)`
  const f = `(${us} % 1000000)`
  // Each part: (text, negative) in order; '+' when the previous nonzero part was negative.
  const part = (v: string, unit: string, before: string) => `CASE WHEN ${v} = 0 THEN '' ELSE (CASE WHEN ${before} AND ${v} > 0 THEN '+' ELSE '' END) || CAST(${v} AS VARCHAR) || ' ${unit}' || CASE WHEN ${v} = 1 THEN '' ELSE 's' END END`
  const negativeBefore = (...values: string[]) => values.reduceRight((inner, v) => `(CASE WHEN ${v} <> 0 THEN ${v} < 0 ELSE ${inner} END)`, 'false')
  const dateParts = `list_filter([${part(y, 'year', 'false')}, ${part(mo, 'mon', negativeBefore(y))}, ${part(d, 'day', negativeBefore(mo, y))}], lambda p: p <> '')`
  const timeZero = `(${h} = 0 AND ${mi} = 0 AND ${s} = 0 AND ${f} = 0)`
  const minus = `(${h} < 0 OR ${mi} < 0 OR ${s} < 0 OR ${f} < 0)`
  const frac = `CASE WHEN ${f} = 0 THEN '' ELSE '.' || rtrim(lpad(CAST(abs(${f}) AS VARCHAR), 6, '0'), '0') END`
  const time = `(CASE WHEN ${minus} THEN '-' WHEN ${negativeBefore(d, mo, y)} THEN '+' ELSE '' END) || printf('%02d', abs(${h})) || ':' || printf('%02d', abs(${mi})) || ':' || printf('%02d', abs(${s})) || ${frac}`
  return `CASE WHEN ${x} IS NULL THEN NULL ELSE array_to_string(list_concat(${dateParts}, CASE WHEN len(${dateParts}) = 0 OR NOT ${timeZero} THEN [${time}] ELSE [] END), ' ') END`
}

/**
 * Runs an atomic write; when it fails on a value a column's type cannot hold, the columns with
 * such values are widened to text (`widen`, false when it widened nothing) and it runs again.
 */
export async function widening<T>(sql: SqlSession, values: readonly StagedValues[], work: () => Promise<T>, fills: readonly FillValue[], widen: (unfit: Map<TableTarget, Set<string>>) => Promise<boolean>): Promise<T> {
  for (;;) {
    try {
      return await work()
    } catch (error) {
      if (!isValueError(error) || sql.transactionOpen) throw error
      if (!(await widen(await unfitColumns(sql, values, fills)))) throw error
    }
  }
}
