/**
 * Iceberg schemas of the tables Inlet writes: each DuckDB column of the local mirror (see
 * iceberg-destination.ts) becomes an Iceberg field with a field id that stays with the column
 * across renames and type promotions, so that engines reading older data files by field id find
 * their values. The Parquet files are written by DuckDB from a SELECT that casts each column to a
 * type Iceberg has (`cast`), with the same field ids (`fieldIds`).
 */
import { quoteIdent } from '../../postgres/sql-text.js'

export type IcebergType = string | { readonly type: 'list'; readonly 'element-id': number; readonly element: IcebergType; readonly 'element-required': boolean }

export interface IcebergField {
  readonly id: number
  readonly name: string
  readonly required: boolean
  readonly type: IcebergType
}

export interface IcebergSchema {
  readonly type: 'struct'
  readonly 'schema-id': number
  readonly fields: readonly IcebergField[]
}

/** A DuckDB column of the mirror: its name and DuckDB type (as DESCRIBE prints it). */
export interface MirrorColumn {
  readonly name: string
  readonly type: string
}

const PRIMITIVE: Record<string, string> = {
  BOOLEAN: 'boolean',
  TINYINT: 'int',
  SMALLINT: 'int',
  INTEGER: 'int',
  BIGINT: 'long',
  UTINYINT: 'int',
  USMALLINT: 'int',
  UINTEGER: 'long',
  // _inlet_lsn: an LSN stays below 2^63 in practice (16 EiB of WAL).
  UBIGINT: 'long',
  FLOAT: 'float',
  DOUBLE: 'double',
  VARCHAR: 'string',
  JSON: 'string',
  BLOB: 'binary',
  DATE: 'date',
  TIME: 'time',
  TIMESTAMP: 'timestamp',
  TIMESTAMPTZ: 'timestamptz',
  'TIMESTAMP WITH TIME ZONE': 'timestamptz',
  UUID: 'uuid',
  // No Iceberg type: kept as DuckDB's text of the value.
  INTERVAL: 'string',
  TIMETZ: 'string',
  'TIME WITH TIME ZONE': 'string',
}

/** The Iceberg primitive of a scalar DuckDB type, and the DuckDB type the Parquet file holds. */
function scalar(duck: string): { iceberg: string; writes: string } {
  const decimal = /^DECIMAL\((\d+),(\d+)\)$/.exec(duck)
  if (decimal !== null) return { iceberg: `decimal(${decimal[1]}, ${decimal[2]})`, writes: duck }
  const iceberg = PRIMITIVE[duck] ?? 'string'
  const writes: Record<string, string> = { int: 'INTEGER', long: 'BIGINT', string: 'VARCHAR' }
  return { iceberg, writes: writes[iceberg] ?? duck }
}

/** `INTEGER[][]` → { element: 'INTEGER', depth: 2 }. */
function listDepth(duck: string): { element: string; depth: number } {
  let depth = 0
  let element = duck
  while (element.endsWith('[]')) {
    element = element.slice(0, -2)
    depth++
  }
  return { element, depth }
}

/** The type DuckDB writes for a mirror column (casts where Iceberg lacks DuckDB's type). */
export function writtenType(duck: string): string {
  const { element, depth } = listDepth(duck)
  return scalar(element).writes + '[]'.repeat(depth)
}

/** The SELECT expression that writes column `c` as Iceberg reads it. */
export function castColumn(c: MirrorColumn): string {
  const to = writtenType(c.type)
  return to === c.type ? quoteIdent(c.name) : `CAST(${quoteIdent(c.name)} AS ${to}) AS ${quoteIdent(c.name)}`
}

/** Whether Iceberg allows a field of type `from` to become `to` in place (the spec's promotions). */
function promotes(from: IcebergType, to: IcebergType): boolean {
  if (typeof from !== 'string' || typeof to !== 'string') return JSON.stringify(from) === JSON.stringify(to)
  if (from === to || (from === 'int' && to === 'long') || (from === 'float' && to === 'double')) return true
  const d = /^decimal\((\d+), (\d+)\)$/
  const f = d.exec(from)
  const t = d.exec(to)
  return f !== null && t !== null && f[2] === t[2] && Number(t[1]) >= Number(f[1])
}

/**
 * The schema for the mirror's columns now, evolved from `previous`: a column keeps its field id
 * under its name or the name it was renamed from (`renamed`: new name → old name) when its type
 * is the same or an Iceberg promotion of it; any other column gets new ids (`lastId` grows).
 */
export function evolveSchema(previous: IcebergSchema | undefined, columns: readonly MirrorColumn[], lastId: number, renamed: ReadonlyMap<string, string> = new Map()): { schema: IcebergSchema; lastId: number } {
  let next = lastId
  const byName = new Map((previous?.fields ?? []).map((f) => [f.name, f]))
  const fields: IcebergField[] = []
  const used = new Set<number>()
  for (const c of columns) {
    const shape = icebergType(c.type, () => 0)
    const old = byName.get(renamed.get(c.name) ?? c.name) ?? byName.get(c.name)
    if (old !== undefined && !used.has(old.id) && promotes(old.type, withIds(shape, old.type))) {
      used.add(old.id)
      fields.push({ id: old.id, name: c.name, required: false, type: withIds(shape, old.type) })
      continue
    }
    const id = ++next
    fields.push({ id, name: c.name, required: false, type: icebergType(c.type, () => ++next) })
  }
  const same = previous !== undefined && JSON.stringify(previous.fields) === JSON.stringify(fields)
  const schema: IcebergSchema = { type: 'struct', 'schema-id': same ? previous['schema-id'] : (previous?.['schema-id'] ?? -1) + 1, fields }
  return { schema, lastId: Math.max(next, ...fields.map((f) => f.id)) }
}

/** A list type with the element ids of the field it may keep (lists promote only when equal). */
function withIds(shape: IcebergType, old: IcebergType): IcebergType {
  if (typeof shape === 'string' || typeof old === 'string') return shape
  return { ...shape, 'element-id': old['element-id'], element: withIds(shape.element, old.element) }
}

function icebergType(duck: string, nextId: () => number): IcebergType {
  const { element, depth } = listDepth(duck)
  let type: IcebergType = scalar(element).iceberg
  // Innermost list first, so ids are assigned inside out; outer lists wrap it.
  for (let i = 0; i < depth; i++) type = { type: 'list', 'element-id': nextId(), element: type, 'element-required': false }
  return type
}

/** How the Iceberg schema names the type of a mirror column: `decimal(12, 2)`, `list<string>`. */
export function icebergTypeName(duck: string): string {
  const { element, depth } = listDepth(duck)
  return `${'list<'.repeat(depth)}${scalar(element).iceberg}${'>'.repeat(depth)}`
}

/** DuckDB's FIELD_IDS option for the schema's fields (lists name their element's id). */
export function fieldIds(schema: IcebergSchema): string {
  const nested = (type: IcebergType, id: number): string => {
    if (typeof type === 'string') return String(id)
    return `{__duckdb_field_id: ${id}, element: ${nested(type.element, type['element-id'])}}`
  }
  return `{${schema.fields.map((f) => `${quoteIdent(f.name)}: ${nested(f.type, f.id)}`).join(', ')}}`
}

/** The field of a column name. */
export function fieldOf(schema: IcebergSchema, name: string): IcebergField | undefined {
  return schema.fields.find((f) => f.name === name)
}
