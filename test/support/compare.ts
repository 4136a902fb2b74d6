/**
 * Compares a destination table with its source table value by value. Source values are read as
 * PostgreSQL text under the pinned settings; destination values are rendered back into that text
 * form by DuckDB SQL written independently of Inlet's conversions (and floats, lists compared as
 * numbers and JSON). Rows are compared as multisets, so tables without a key compare too.
 * For SCD2 the source is compared with the current versions, and the history is checked: per key
 * one current version at most, versions that do not overlap, none repeated; without a key, no
 * version opened and closed by one transaction.
 */
import { createHash } from 'node:crypto'
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api'
import { connect } from '../../src/postgres/connect.js'
import { parseConnectionString } from '../../src/postgres/connection-settings.js'

export async function openDuck(path: string): Promise<{ duck: DuckDBConnection; close: () => void }> {
  const instance = await DuckDBInstance.create(path)
  const duck = await instance.connect()
  await duck.run(`SET TimeZone = 'UTC'`)
  return { duck, close: () => (duck.closeSync(), instance.closeSync()) }
}

async function duckRows(duck: DuckDBConnection, sql: string): Promise<Array<Record<string, unknown>>> {
  return (await (await duck.runAndReadAll(sql)).getRowObjectsJS()) as Array<Record<string, unknown>>
}

const q = (name: string) => `"${name.replace(/"/g, '""')}"`

function normalise(type: string, value: unknown): unknown {
  if (value === null || value === undefined) return null
  const text = String(value)
  if (/^(FLOAT|DOUBLE)$/.test(type)) return Number(text.replace(/^-?inf(inity)?$/i, (m) => (m.startsWith('-') ? '-Infinity' : 'Infinity')).replace(/^nan$/i, 'NaN'))
  if (type.endsWith(']')) return JSON.parse(text) as unknown
  if (/^(DATE|TIMESTAMP)/.test(type)) return text.replace(/^(\S+) \(BC\)(.*)$/, '$1$2 BC')
  return text
}

/** The sample shop's tables (src/demo/sample-schema.ts) as the crash and Iceberg tests set them up: orders as SCD2. */
export function shopTables(sourceUrl: string): CompareOptions[] {
  const tables = [['customers', ['id'], 1], ['products', ['id'], 1], ['orders', ['id'], 2], ['order_items', ['order_id', 'line'], 1], ['events', ['id', 'at'], 1], ['page_views', [], 1]] as const
  return tables.map(([t, key, scd]) => ({ sourceUrl, sourceTable: `public.${t}`, destTable: `public.${t}`, scd, key }))
}

export interface CompareOptions {
  readonly sourceUrl: string
  readonly sourceTable: string
  readonly destTable: string
  readonly scd?: 1 | 2
  /** Source columns not in the destination. */
  readonly exclude?: readonly string[]
  /** Destination columns the source no longer has (dropped there, kept here). */
  readonly ignore?: readonly string[]
  /** Key columns, for the SCD2 history checks. */
  readonly key?: readonly string[]
}

/** Returns the differences, described (empty when equal). */
export async function compareTable(duck: DuckDBConnection, options: CompareOptions): Promise<string[]> {
  const described = await duckRows(duck, `DESCRIBE ${options.destTable}`)
  const meta = new Set(['_inlet_lsn', '_inlet_synced_at', '_inlet_partition', '__START_AT', '__END_AT', ...(options.ignore ?? [])])
  const columns = described.map((d) => ({ name: String(d.column_name), type: String(d.column_type) })).filter((c) => !meta.has(c.name))
  const render = columns.map(({ name, type }) => {
    const c = q(name)
    if (type === 'BLOB') return `'\\x' || lower(hex(${c}))`
    if (type === 'BOOLEAN') return `CASE WHEN ${c} IS NULL THEN NULL WHEN ${c} THEN 'true' ELSE 'false' END` // as boolean::text prints it
    if (type.endsWith(']')) return `CAST(to_json(${c}) AS VARCHAR)`
    return `CAST(${c} AS VARCHAR)`
  })
  const current = options.scd === 2 ? ` WHERE "__END_AT" IS NULL` : ''
  // Rows are counted by a hash of their normalised values, read in chunks: tables of a million
  // wide rows compare without holding them.
  const rowKey = (values: readonly unknown[]) => {
    const text = JSON.stringify(columns.map((c, i) => normalise(c.type, values[i])))
    return text.length <= 200 ? text : `${text.slice(0, 200)}…#${createHash('sha1').update(text).digest('base64')}`
  }
  const dst = new Map<string, number>()
  const reader = await duck.stream(`SELECT ${render.map((r, i) => `${r} AS c${i}`).join(', ')} FROM ${options.destTable}${current}`)
  for (let chunk = await reader.fetchChunk(); chunk !== null && chunk.rowCount > 0; chunk = await reader.fetchChunk()) {
    for (const row of chunk.getRows()) {
      const k = rowKey(row)
      dst.set(k, (dst.get(k) ?? 0) + 1)
    }
  }
  const client = await connect(parseConnectionString(options.sourceUrl, {}), { pinValueSettings: true })
  const src = new Map<string, number>()
  let sourceColumns: string[]
  try {
    const select = columns.map(({ name, type }, i) => (type.endsWith(']') ? `array_to_json(${q(name)})::text AS c${i}` : `${q(name)}::text AS c${i}`))
    await client.query('BEGIN')
    await client.query(`DECLARE inlet_compare NO SCROLL CURSOR FOR SELECT ${select.join(', ')} FROM ${options.sourceTable}`)
    for (;;) {
      const { rows } = await client.query(`FETCH 20000 FROM inlet_compare`)
      if (rows.length === 0) break
      for (const row of rows as Array<Record<string, unknown>>) {
        const k = rowKey(columns.map((_, i) => row[`c${i}`]))
        src.set(k, (src.get(k) ?? 0) + 1)
      }
    }
    await client.query('COMMIT')
    // The schema too: every source column (but those excluded) is in the destination.
    // (A subquery as the source has no catalog entry to compare with.)
    const attributes = /^[\w."]+$/.test(options.sourceTable)
      ? await client.query<{ name: string }>(`SELECT attname AS name FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped`, [options.sourceTable])
      : { rows: [] }
    sourceColumns = attributes.rows.map((r) => r.name).filter((n) => !(options.exclude ?? []).includes(n))
  } finally {
    await client.end()
  }
  const problems: string[] = []
  const missing = sourceColumns.filter((n) => !columns.some((c) => c.name === n))
  if (missing.length > 0) problems.push(`${options.destTable}: no column ${missing.join(', ')} (the source has it)`)
  for (const [row, n] of src) if ((dst.get(row) ?? 0) !== n && problems.length < 100) problems.push(`${options.destTable}: source has ${n}× ${row.slice(0, 300)}, destination ${dst.get(row) ?? 0}×`)
  for (const [row, n] of dst) if (!src.has(row) && problems.length < 100) problems.push(`${options.destTable}: destination has ${n}× ${row.slice(0, 300)}, source none`)
  if (options.scd === 2 && options.key !== undefined && options.key.length > 0) {
    const k = options.key.map(q).join(', ')
    const overlaps = await duckRows(
      duck,
      `SELECT count(*) AS n FROM (SELECT "__START_AT" AS s, "__END_AT" AS e, lead("__START_AT") OVER (PARTITION BY ${k} ORDER BY "_inlet_lsn", "__START_AT") AS next_s,
         count(*) FILTER (WHERE "__END_AT" IS NULL) OVER (PARTITION BY ${k}) AS currents FROM ${options.destTable})
       WHERE currents > 1 OR (e IS NULL AND next_s IS NOT NULL) OR (e IS NOT NULL AND next_s IS NOT NULL AND e > next_s) OR e <= s`,
    )
    if (Number(overlaps[0]?.n) > 0) problems.push(`${options.destTable}: ${String(overlaps[0]?.n)} versions overlap, are empty or are current twice`)
    const repeated = await duckRows(duck, `SELECT count(*) AS n FROM (SELECT ${k}, "_inlet_lsn", count(*) AS c FROM ${options.destTable} GROUP BY ALL HAVING count(*) > 1)`)
    if (Number(repeated[0]?.n) > 0) problems.push(`${options.destTable}: ${String(repeated[0]?.n)} keys have two versions from one transaction`)
  } else if (options.scd === 2) {
    // Without a key: a version that one transaction opened and closed is no version (it began and ended at one instant).
    const instant = await duckRows(duck, `SELECT count(*) AS n FROM ${options.destTable} WHERE "__END_AT" = "__START_AT"`)
    if (Number(instant[0]?.n) > 0) problems.push(`${options.destTable}: ${String(instant[0]?.n)} versions were opened and closed by one transaction`)
  }
  return problems
}

/** Opens the destination file and asserts each table equal to its source (problems listed on failure). */
export async function assertEqualTables(destination: string, tables: ReadonlyArray<Omit<CompareOptions, 'sourceUrl'> & { readonly sourceUrl: string }>): Promise<void> {
  const { duck, close } = await openDuck(destination)
  try {
    const problems: string[] = []
    for (const t of tables) problems.push(...(await compareTable(duck, t)))
    if (problems.length > 0) throw new Error(`destination differs from source:\n${problems.slice(0, 12).concat(problems.filter((p) => p.includes("destination has")).slice(0, 8)).join('\n')}`)
  } finally {
    close()
  }
}
