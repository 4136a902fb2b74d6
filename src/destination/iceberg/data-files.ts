/**
 * Parquet data and delete files, written by DuckDB's own COPY (no extension needed) with the
 * Iceberg field ids, and described for the manifest from COPY's RETURN_STATS: row count, size,
 * and per column sizes, counts and the bounds engines prune files by.
 */
import { mkdirSync, rmSync } from 'node:fs'
import { basename, join } from 'node:path'
import { literal, type SqlSession } from '../duckdb/sql-session.js'
import { fieldIds, type IcebergSchema } from './iceberg-schema.js'
import type { ContentFile } from './manifests.js'
import type { WrittenFile } from './row-index.js'
import type { Storage } from './storage.js'

/** Where a table's data files go: in place on a file system, through a local scratch directory to object storage. */
export interface DataDirectory {
  readonly storage: Storage
  readonly location: string
  readonly scratch: string
  /** The commit the files belong to: they go under `<commit>-<content>/`. */
  readonly commit: string
  /** Rows per Parquet row group (see rowGroupRows). */
  readonly rowGroupRows: number
}

/** What one row group may take in memory while DuckDB writes it (each writing thread holds one). */
const ROW_GROUP_BYTES = 4 * 1024 * 1024

/**
 * Rows per row group for a table's files, from the width of a sample of its rows: DuckDB holds a
 * row group in its buffer pool until it is written, and its default of 122,880 rows of a table
 * like the bench's (300 bytes a row) does not fit the pool's share of the default memory_limit.
 */
export async function rowGroupRows(sql: SqlSession, table: string): Promise<number> {
  // The first rows, not a sample: a sample reads the whole table, which a small commit must not.
  const rows = await sql.rows<{ width: number | null }>(`SELECT avg(strlen(CAST(t AS VARCHAR))) AS width FROM (SELECT * FROM ${table} LIMIT 2048) AS t`)
  const width = Math.max(1, Number(rows[0]?.width ?? 0))
  return Math.min(122_880, Math.max(1024, Math.floor(ROW_GROUP_BYTES / width)))
}

/** Data files grow to about this size before the next one starts (whole-table writes). */
const FILE_SIZE = '256MB'

interface CopyStats {
  filename: string
  count: bigint
  file_size_bytes: bigint
  column_statistics: Array<{ key: string; value: Array<{ key: string; value: string }> }> | null
}

/**
 * Writes `select` (columns named and cast as `schema`'s fields) to new Parquet files under
 * `directory`; returns them described, none when the SELECT has no rows. `written` sees each
 * file while a local copy exists (before an upload), to read its rows back.
 */
export async function writeParquet(sql: SqlSession, select: string, schema: IcebergSchema, directory: DataDirectory, content: 0 | 1, written?: (files: WrittenFile[]) => Promise<void>): Promise<ContentFile[]> {
  const name = `${directory.commit}-${content}`
  const { storage } = directory
  const dir = storage.local ? storage.child(directory.location, name) : join(directory.scratch, name)
  mkdirSync(dir, { recursive: true })
  const rows = await sql.rows<CopyStats>(
    `COPY (${select}) TO ${literal(dir)} (FORMAT parquet, COMPRESSION zstd, FIELD_IDS ${fieldIds(schema)}, FILE_SIZE_BYTES '${FILE_SIZE}', ROW_GROUP_SIZE ${directory.rowGroupRows}, FILENAME_PATTERN '${content === 0 ? 'data' : 'pos-deletes'}-{uuid}', RETURN_STATS)`,
  )
  // COPY leaves a file without rows when the SELECT has none: nothing would reference it.
  for (const r of rows) if (Number(r.count) === 0) rmSync(r.filename, { force: true })
  if (rows.every((r) => Number(r.count) === 0)) rmSync(dir, { recursive: true, force: true })
  const files = rows.filter((r) => Number(r.count) > 0).map((r) => describe(r, schema, content))
  const at = (f: ContentFile) => (storage.local ? f.path : storage.child(directory.location, name, basename(f.path)))
  const readBack = () => written?.(files.map((f) => ({ local: f.path, location: at(f) })))
  if (storage.local) {
    await readBack()
    return files
  }
  try {
    await readBack()
    const placed: ContentFile[] = []
    for (const f of files) {
      const location = at(f)
      await storage.upload(f.path, location)
      placed.push({ ...f, path: location })
    }
    return placed
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

function describe(r: CopyStats, schema: IcebergSchema, content: 0 | 1): ContentFile {
  const columnSizes = new Map<number, number>()
  const valueCounts = new Map<number, number>()
  const nullCounts = new Map<number, number>()
  const lowerBounds = new Map<number, Buffer>()
  const upperBounds = new Map<number, Buffer>()
  const records = Number(r.count)
  for (const { key, value } of r.column_statistics ?? []) {
    // Top-level columns only ("name"); list elements ("name"."element") are left without metrics.
    const m = /^"((?:[^"]|"")*)"$/.exec(key)
    if (m === null) continue
    const field = schema.fields.find((f) => f.name === (m[1] as string).replace(/""/g, '"'))
    if (field === undefined || typeof field.type !== 'string') continue
    const stats = new Map(value.map((v) => [v.key, v.value]))
    const size = stats.get('column_size_bytes')
    if (size !== undefined) columnSizes.set(field.id, Number(size))
    valueCounts.set(field.id, records)
    const nulls = stats.get('null_count')
    if (nulls !== undefined) nullCounts.set(field.id, Number(nulls))
    const min = stats.get('min')
    const max = stats.get('max')
    if (min === undefined || max === undefined) continue
    // Float bounds leave NaN out; a file holding one gets none (nan_value_counts is not written).
    if ((field.type === 'float' || field.type === 'double') && stats.get('has_nan') !== 'false') continue
    // A zero float bound is -0.0 below and +0.0 above: DuckDB's statistics hold the two equal.
    const float = field.type === 'float' || field.type === 'double'
    const lower = bound(field.type, float && Number(min) === 0 ? '-0.0' : min)
    const upper = bound(field.type, float && Number(max) === 0 ? '0.0' : max)
    if (lower !== undefined && upper !== undefined) {
      lowerBounds.set(field.id, lower)
      upperBounds.set(field.id, upper)
    }
  }
  return { content, path: r.filename, records, bytes: Number(r.file_size_bytes), columnSizes, valueCounts, nullCounts, lowerBounds, upperBounds }
}

/**
 * Iceberg's single-value binary form of a bound, for the types whose text DuckDB prints exactly;
 * undefined for the others (a file without bounds is read, never wrongly skipped).
 */
export function bound(type: string, text: string): Buffer | undefined {
  if (type === 'int' && /^-?\d+$/.test(text)) {
    const b = Buffer.alloc(4)
    b.writeInt32LE(Number(text))
    return b
  }
  if (type === 'long' && /^-?\d+$/.test(text)) {
    const b = Buffer.alloc(8)
    b.writeBigInt64LE(BigInt(text))
    return b
  }
  if (type === 'boolean' && (text === 'true' || text === 'false')) return Buffer.from([text === 'true' ? 1 : 0])
  if (type === 'date' && /^\d{4}-\d{2}-\d{2}$/.test(text)) {
    if (Number(text.slice(0, 4)) < 1) return undefined
    // setUTCFullYear: Date.UTC reads years 0-99 as 1900-1999.
    const date = new Date(0)
    date.setUTCFullYear(Number(text.slice(0, 4)), Number(text.slice(5, 7)) - 1, Number(text.slice(8, 10)))
    const days = date.getTime() / 86_400_000
    const b = Buffer.alloc(4)
    b.writeInt32LE(days)
    return b
  }
  if (type === 'timestamp' || type === 'timestamptz') {
    const micros = epochMicros(text, type === 'timestamptz')
    if (micros === undefined) return undefined
    const b = Buffer.alloc(8)
    b.writeBigInt64LE(micros)
    return b
  }
  if (type === 'time') {
    const m = /^(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?$/.exec(text)
    if (m === null) return undefined
    const b = Buffer.alloc(8)
    b.writeBigInt64LE((BigInt(m[1] as string) * 3600n + BigInt(m[2] as string) * 60n + BigInt(m[3] as string)) * 1_000_000n + BigInt((m[4] ?? '').padEnd(6, '0')))
    return b
  }
  // DuckDB prints floats in their shortest exact form (and inf, -inf), which Number reads back exactly.
  if ((type === 'float' || type === 'double') && /^(-?inf|-?\d+(\.\d+)?(e[+-]?\d+)?)$/.test(text)) {
    const value = text === 'inf' ? Infinity : text === '-inf' ? -Infinity : Number(text)
    const b = Buffer.alloc(type === 'float' ? 4 : 8)
    if (type === 'float') b.writeFloatLE(value)
    else b.writeDoubleLE(value)
    return b
  }
  // Short strings only: DuckDB may shorten long ones in statistics, and a shortened upper bound is wrong.
  if (type === 'string' && Buffer.byteLength(text) <= 32) return Buffer.from(text)
  if (type === 'uuid' && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(text)) return Buffer.from(text.replace(/-/g, ''), 'hex')
  const decimal = /^decimal\(\d+, (\d+)\)$/.exec(type)
  if (decimal !== null && /^-?\d+(\.\d+)?$/.test(text)) {
    const scale = Number(decimal[1])
    const [whole, fraction = ''] = text.replace('-', '').split('.')
    if (fraction.length > scale) return undefined
    let unscaled = BigInt(`${whole}${fraction.padEnd(scale, '0')}`)
    if (text.startsWith('-')) unscaled = -unscaled
    return twosComplement(unscaled)
  }
  return undefined
}

/**
 * Microseconds since the epoch of DuckDB's text of a timestamp (`YYYY-MM-DD HH:MM:SS[.ffffff]`,
 * with `+HH[:MM]` for timestamptz, which its statistics print in UTC); undefined for other forms
 * (infinity, years before 1 or after 9999, BC).
 */
function epochMicros(text: string, zoned: boolean): bigint | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?([+-]\d{2})?(?::?(\d{2}))?$/.exec(text)
  if (m === null || Number(m[1]) < 1 || (zoned && m[8] === undefined) || (!zoned && m[8] !== undefined)) return undefined
  const date = new Date(0)
  date.setUTCFullYear(Number(m[1]), Number(m[2]) - 1, Number(m[3]))
  const days = BigInt(Math.round(date.getTime() / 86_400_000))
  const sign = m[8]?.startsWith('-') === true ? -1 : 1
  const offset = m[8] === undefined ? 0n : BigInt(sign * (Math.abs(Number(m[8])) * 3600 + Number(m[9] ?? 0) * 60))
  const seconds = days * 86_400n + BigInt(Number(m[4]) * 3600 + Number(m[5]) * 60 + Number(m[6])) - offset
  return seconds * 1_000_000n + BigInt((m[7] ?? '').padEnd(6, '0'))
}

/** The shortest big-endian two's-complement bytes of an integer (Iceberg's decimal bound form). */
function twosComplement(n: bigint): Buffer {
  let bytes = 1
  while (n < -(1n << BigInt(8 * bytes - 1)) || n >= 1n << BigInt(8 * bytes - 1)) bytes++
  const b = Buffer.alloc(bytes)
  let v = n < 0n ? (1n << BigInt(8 * bytes)) + n : n
  for (let i = bytes - 1; i >= 0; i--) {
    b[i] = Number(v & 0xffn)
    v >>= 8n
  }
  return b
}
