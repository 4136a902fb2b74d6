/**
 * PostgreSQL type → DuckDB column type, and the SQL expression that turns PostgreSQL's text form
 * of a value into it. This is the one value path: snapshot rows (COPY CSV read by DuckDB) and
 * streamed rows (pgoutput text appended to a staging table) are both VARCHAR in PostgreSQL's text
 * form, produced under the pinned session settings (ISO dates, UTC, postgres intervals, hex bytea,
 * shortest-exact floats), and both go through these expressions inside DuckDB.
 *
 * The conversions are SQL rather than JavaScript so that DuckDB applies them vectorised, on its own
 * threads, to the whole batch. Where DuckDB has no type that holds every value of the source type,
 * the column keeps PostgreSQL's text form (VARCHAR): nothing is rounded, clamped or dropped.
 */
import type { PgType, SourceColumn } from '../../model/source-table.js'
import type { ColumnType, TableTarget, TargetColumn, TypeMapping } from '../../model/table-binding.js'

export interface DuckColumnType extends ColumnType {
  /** DuckDB column type, e.g. `DECIMAL(12,2)`, `INTEGER[][]`. */
  readonly name: string
  /** SQL turning the VARCHAR expression `x` (PostgreSQL text form) into `name`. */
  readonly convert: (x: string) => string
  /**
   * The text form never holds a quote, comma, CR or newline and is never empty, so the staging
   * CSV writes it unquoted (see stage-file.ts).
   */
  readonly bare: boolean
}

const identity = (x: string): string => x
const cast = (type: string) => (x: string) => `CAST(${x} AS ${type})`

/** `0044-03-15 BC` → `0044-03-15 (BC)`; `0044-03-15 12:00:00+00 BC` → `0044-03-15 (BC) 12:00:00+00`. DuckDB would read the PostgreSQL form as AD. */
const bcDate = (type: string) => (x: string) => `CAST(CASE WHEN ends_with(${x}, ' BC') THEN regexp_replace(${x}, '^(\\S+)(.*) BC$', '\\1 (BC)\\2') ELSE ${x} END AS ${type})`

const BUILTIN: Record<number, DuckColumnType> = {
  16: { name: 'BOOLEAN', convert: cast('BOOLEAN'), bare: true },
  17: { name: 'BLOB', convert: (x) => `from_hex(substr(${x}, 3))`, bare: true }, // bytea_output=hex: \x0a0b
  20: { name: 'BIGINT', convert: cast('BIGINT'), bare: true },
  21: { name: 'SMALLINT', convert: cast('SMALLINT'), bare: true },
  23: { name: 'INTEGER', convert: cast('INTEGER'), bare: true },
  26: { name: 'UINTEGER', convert: cast('UINTEGER'), bare: true }, // oid
  114: { name: 'JSON', convert: cast('JSON'), bare: false },
  3802: { name: 'JSON', convert: cast('JSON'), bare: false }, // jsonb: its canonical text
  700: { name: 'FLOAT', convert: cast('FLOAT'), bare: true },
  701: { name: 'DOUBLE', convert: cast('DOUBLE'), bare: true },
  1082: { name: 'DATE', convert: bcDate('DATE'), bare: true },
  1083: { name: 'TIME', convert: cast('TIME'), bare: true },
  1114: { name: 'TIMESTAMP', convert: bcDate('TIMESTAMP'), bare: true },
  1184: { name: 'TIMESTAMPTZ', convert: bcDate('TIMESTAMPTZ'), bare: true },
  1266: { name: 'TIMETZ', convert: cast('TIMETZ'), bare: true },
  // IntervalStyle=postgres prints '+' on fields whose sign differs from the first; DuckDB's parser
  // takes signed numbers without it.
  1186: { name: 'INTERVAL', convert: (x) => `CAST(replace(${x}, '+', '') AS INTERVAL)`, bare: true },
  2950: { name: 'UUID', convert: cast('UUID'), bare: true },
}

/** Types whose text form is the natural destination value (and needs no quoting as a list element). */
const TEXT: DuckColumnType = { name: 'VARCHAR', convert: identity, bare: false }

const cache = new WeakMap<SourceColumn, DuckColumnType>()

/** The DuckDB type of a source column (memoised: the SQL of every batch asks again). */
export function duckColumnType(column: SourceColumn): DuckColumnType {
  let type = cache.get(column)
  if (type === undefined) cache.set(column, (type = typeFor(column.type, Math.max(1, column.dimensions))))
  return type
}

/** The DuckDB type and conversion of a bound column: the one it carries, else derived from its source column. */
export function sqlType(column: TargetColumn): DuckColumnType {
  const type = column.type as Partial<DuckColumnType>
  return typeof type.convert === 'function' ? (type as DuckColumnType) : duckColumnType(column.source)
}

/**
 * The target as the destination table holds it: a column widened to text (widen-to-text.ts),
 * where the type mapping says otherwise, takes values as text.
 */
export function asHeld(target: TableTarget, held: ReadonlyMap<string, string>): TableTarget {
  if (!target.columns.some((c) => held.get(c.name) === 'VARCHAR' && sqlType(c).name !== 'VARCHAR')) return target
  return { ...target, columns: target.columns.map((c) => (held.get(c.name) === 'VARCHAR' && sqlType(c).name !== 'VARCHAR' ? { ...c, type: TEXT } : c)) }
}

/** DuckDB's type mapping, as the pipeline sees it. */
export const DUCKDB_TYPES: TypeMapping = { columnType: duckColumnType, widens }

const INTEGER_DIGITS: Record<string, number> = { SMALLINT: 5, INTEGER: 10, BIGINT: 19 }
const INTEGER_ORDER = ['SMALLINT', 'INTEGER', 'BIGINT']

/** Whether a DuckDB column of type `from` converts to `to` keeping every value exactly. */
export function widens(from: string, to: string): boolean {
  if (from === to) return true
  const fi = INTEGER_ORDER.indexOf(from)
  const ti = INTEGER_ORDER.indexOf(to)
  if (fi >= 0 && ti >= 0) return fi < ti
  if (from === 'FLOAT' && to === 'DOUBLE') return true
  const decimal = /^DECIMAL\((\d+),(\d+)\)$/
  const td = decimal.exec(to)
  if (td === null) return false
  const [p2, s2] = [Number(td[1]), Number(td[2])]
  if (fi >= 0) return p2 - s2 >= (INTEGER_DIGITS[from] as number)
  const fd = decimal.exec(from)
  if (fd === null) return false
  const [p, s] = [Number(fd[1]), Number(fd[2])]
  return s2 >= s && p2 - s2 >= p - s
}

function typeFor(type: PgType, dimensions: number): DuckColumnType {
  switch (type.kind) {
    case 'enum':
    case 'other':
      return TEXT
    case 'array': {
      const element = typeFor(type.element, 1)
      return arrayType(element, dimensions)
    }
    case 'base': {
      if (type.oid === 1700) return numericType(type.typmod)
      return BUILTIN[type.oid] ?? TEXT
    }
  }
}

/**
 * numeric(p,s) with 0 <= s <= p <= 38 fits DECIMAL(p,s). Unconstrained numeric (up to 131072
 * digits, NaN, ±Infinity) and PostgreSQL 15's negative scales keep their exact text.
 */
function numericType(typmod: number): DuckColumnType {
  if (typmod < 4) return TEXT
  const precision = ((typmod - 4) >> 16) & 0xffff
  let scale = (typmod - 4) & 0x7ff
  if (scale & 0x400) scale -= 0x800 // PostgreSQL 15+: 11-bit signed scale
  if (precision < 1 || precision > 38 || scale < 0 || scale > precision) return TEXT
  const name = `DECIMAL(${precision},${scale})`
  return { name, convert: cast(name), bare: true }
}

/**
 * PostgreSQL array text (`{1,NULL,"a b"}`, `{{1,2},{3,4}}`) → DuckDB list: tokenised by a
 * regular expression, re-spelt as JSON (quoted elements unescaped, bare NULL → null), cast to
 * nested VARCHAR lists, and each element converted like a scalar of the element type. Arrays
 * with explicit bounds (`[0:2]={...}`) have no list equivalent: they fail the conversion, and the
 * column is widened to text (widen-to-text.ts).
 */
function arrayType(element: DuckColumnType, dimensions: number): DuckColumnType {
  const nested = (depth: number, x: string): string => {
    if (depth === 0) return element.convert(x)
    const v = `e${depth}`
    return `list_transform(${x}, lambda ${v}: ${nested(depth - 1, v)})`
  }
  const lists = '[]'.repeat(dimensions)
  const convert = (x: string): string => {
    const json =
      `array_to_string(list_transform(regexp_extract_all(${x}, '"(?:[^"\\\\]|\\\\.)*"|[{},]|[^{},"]+'), lambda t: ` +
      `CASE WHEN t = '{' THEN '[' WHEN t = '}' THEN ']' WHEN t = ',' THEN ',' WHEN t = 'NULL' THEN 'null' ` +
      `WHEN t[1] = '"' THEN CAST(to_json(regexp_replace(t[2:-2], '\\\\(.)', '\\1', 'g')) AS VARCHAR) ELSE CAST(to_json(t) AS VARCHAR) END), '')`
    // (A cast that fails rather than error(): TRY() in widen-to-text.ts cannot wrap a volatile function.)
    const bounded = `CAST(CAST(concat('explicit array bounds ', ${x}) AS UTINYINT) AS VARCHAR)`
    const list = `CAST(CAST(CASE WHEN starts_with(${x}, '[') THEN ${bounded} ELSE ${json} END AS JSON) AS VARCHAR${lists})`
    return element.convert === identity ? list : nested(dimensions, list)
  }
  return { name: `${element.name}${lists}`, convert, bare: false }
}
