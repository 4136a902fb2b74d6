/**
 * Schema evolution seen through pgoutput Relation messages. PostgreSQL sends a table's Relation
 * message again before the first row that follows a change of its columns, so comparing it with
 * the destination's current binding tells what changed:
 *
 * - a new column: added to the destination. Rows that existed at the ALTER get the column's
 *   "missing value" (ADD COLUMN ... DEFAULT constant fills them without any row event), read from
 *   pg_attribute; NULL without a default.
 * - a column gone: kept in the destination, NULL in rows written from then on.
 * - a renamed column (the DDL tracking script's audit rows carry attnums): renamed in place.
 * - a new type: the destination column is widened in place when its type can hold every old and
 *   new value (int2 → int4 → int8, float4 → float8, wider DECIMAL); a narrower type is written
 *   into the wider column as it is; anything else needs the table copied again.
 *
 * What Relation messages cannot show (documented in the README): a change to a table no row of
 * which changes afterwards is seen only at its next row; a rename looks like a drop plus an add;
 * a rewrite that changes values (ALTER TYPE ... USING, ADD COLUMN with a volatile default) sends
 * no row events. The DDL tracking script covers these.
 */
import { columnType, type ColumnType } from '../destination/duckdb/column-types.js'
import { InletError } from '../errors/inlet-error.js'
import type { SqlClient } from '../postgres/connect.js'
import type { Relation } from '../source/stream/stream-events.js'
import { resolveTypes, typeOf, type SourceColumn } from '../source/table-schema.js'
import type { TableTarget, TargetColumn } from './table-target.js'

/** INLET-S007 for a table that a new copy (`inlet refresh`) brings back in line. */
export class RefreshNeeded extends InletError {
  constructor(
    readonly target: TableTarget,
    message: string,
  ) {
    super('INLET-S007', message, { fix: `Copy the table again: inlet refresh ${target.display} (while no inlet run holds the destination), then rerun inlet run.` })
  }
}

export interface AddedColumn {
  readonly column: TargetColumn
  /** PostgreSQL text of the value rows existing at the ALTER hold; null: NULL. */
  readonly fill: string | null
}

export interface RetypedColumn {
  readonly column: TargetColumn
  readonly from: ColumnType
  /** The destination column is widened to the new type (else it already holds it). */
  readonly widen: boolean
}

export interface SchemaChange {
  /** The binding after the change. */
  readonly target: TableTarget
  readonly added: readonly AddedColumn[]
  readonly dropped: readonly string[]
  readonly retyped: readonly RetypedColumn[]
  /** Same attnum, new name (known from the DDL tracking script only). */
  readonly renamed: ReadonlyArray<{ readonly from: string; readonly to: string }>
}

/** A source column as a Relation message or a DDL audit row describes it. */
export interface ColumnState {
  readonly name: string
  readonly typeOid: number
  readonly typeModifier: number
  /** From the DDL audit row; absent in Relation messages. */
  readonly attnum?: number
  /** The audit row's stored default for existing rows: a string, null (none), or absent (unknown). */
  readonly missing?: string | null
}

export function relationColumns(relation: Relation): ColumnState[] {
  return relation.columns.map((c) => ({ name: c.name, typeOid: c.typeOid, typeModifier: c.typeModifier }))
}

/** Whether the columns differ from the target's (excluded columns aside). */
export function columnsDiffer(target: TableTarget, state: readonly ColumnState[]): boolean {
  const excluded = new Set(target.excluded)
  const published = state.filter((c) => !excluded.has(c.name))
  if (published.length !== target.columns.length) return true
  return published.some((c) => {
    const t = target.columns.find((x) => x.name === c.name)
    return t === undefined || t.source.typeOid !== c.typeOid || typmodOf(t.source) !== c.typeModifier || (c.attnum !== undefined && t.source.attnum > 0 && t.source.attnum !== c.attnum)
  })
}

/** The target after the relation's change, with what the destination must do. */
export async function evolveTarget(client: SqlClient, target: TableTarget, relationId: number, state: readonly ColumnState[]): Promise<SchemaChange> {
  const excluded = new Set(target.excluded)
  const published = state.filter((c) => !excluded.has(c.name))
  const types = await resolveTypes(client, published.map((c) => c.typeOid))
  const added: AddedColumn[] = []
  const retyped: RetypedColumn[] = []
  const renamed: Array<{ from: string; to: string }> = []
  const columns: TargetColumn[] = []
  for (const c of published) {
    // The same column: by attnum when the audit row gives it (a rename keeps it), else by name.
    const old = c.attnum !== undefined ? (target.columns.find((t) => t.source.attnum === c.attnum) ?? target.columns.find((t) => t.name === c.name && t.source.attnum <= 0)) : target.columns.find((t) => t.name === c.name)
    if (old !== undefined && old.name !== c.name) renamed.push({ from: old.name, to: c.name })
    const type = typeOf(types, c.typeOid, c.typeModifier)
    const source: SourceColumn = {
      name: c.name,
      attnum: c.attnum ?? old?.source.attnum ?? 0,
      typeName: types.get(c.typeOid)?.name ?? String(c.typeOid),
      typeOid: c.typeOid,
      type,
      dimensions: old?.source.dimensions ?? (type.kind === 'array' ? 1 : 0),
      notNull: old?.source.notNull ?? false,
    }
    const column: TargetColumn = { name: c.name, source, type: columnType(source) }
    columns.push(column)
    if (old === undefined) added.push({ column, fill: c.missing !== undefined ? c.missing : await missingValue(client, target, relationId, c.name) })
    else if (old.source.typeOid !== c.typeOid || typmodOf(old.source) !== c.typeModifier) {
      if (old.type.duckType === column.type.duckType) continue
      if (widens(old.type.duckType, column.type.duckType)) retyped.push({ column, from: old.type, widen: true })
      else if (widens(column.type.duckType, old.type.duckType)) retyped.push({ column, from: old.type, widen: false })
      else {
        throw new RefreshNeeded(target, `${target.display}.${c.name} changed type from ${old.source.typeName} to ${source.typeName}, which ${target.destSchema}.${target.destName} (${old.type.duckType}) cannot hold in place.`)
      }
    }
  }
  const dropped = target.columns.filter((t) => !columns.some((c) => c.name === t.name) && !renamed.some((r) => r.from === t.name)).map((t) => t.name)
  const renamedTo = (name: string) => renamed.find((r) => r.from === name)?.to ?? name
  const keyNames = target.key.map((i) => renamedTo((target.columns[i] as TargetColumn).name))
  const key = keyNames.map((n) => columns.findIndex((c) => c.name === n))
  if (key.some((i) => i < 0)) {
    throw new RefreshNeeded(target, `A key column of ${target.display} (${keyNames.join(', ')}) was dropped.`)
  }
  return { target: { ...target, columns, key }, added, dropped, retyped, renamed }
}

function typmodOf(column: SourceColumn): number {
  return column.type.kind === 'base' ? column.type.typmod : -1
}

/**
 * ADD COLUMN with a constant default stores the value once as the column's missing value instead
 * of rewriting the table. Reading it needs SELECT on pg_attribute.attmissingval, which PostgreSQL
 * grants to superusers only on some versions; without it the rows keep NULL and a warning says so.
 */
async function missingValue(client: SqlClient, target: TableTarget, relationId: number, name: string): Promise<string | null> {
  const relations = [relationId, ...target.table.heaps.map((h) => h.oid)]
  try {
    const { rows } = await client.query<{ v: string | null }>(
      `select (a.attmissingval::text::text[])[1] as v from pg_attribute a
        where a.attrelid = any($1::oid[]) and a.attname = $2 and not a.attisdropped and a.atthasmissing
        limit 1`,
      [relations, name],
    )
    return rows[0]?.v ?? null
  } catch (cause) {
    throw new InletError('INLET-S007', `The value that ${target.display}.${name} gives existing rows cannot be read (${(cause as Error).message}).`, {
      cause,
      fix: 'Grant the role SELECT on pg_catalog.pg_attribute (attmissingval), or copy the table again.',
    })
  }
}

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

/**
 * The relation's primary key when it differs from the one the table is bound with (replica
 * identity DEFAULT, where the Relation message flags the key columns); else undefined.
 */
export function keyChanged(target: TableTarget, relation: Relation): string[] | undefined {
  if (relation.replicaIdentity !== 'd' || target.table.replicaIdentity !== 'd') return undefined
  const relationKey = relation.columns.filter((c) => c.key).map((c) => c.name)
  const boundKey = target.key.map((i) => target.columns[i]?.source.name)
  return relationKey.length > 0 && relationKey.join(',') !== boundKey.join(',') ? relationKey : undefined
}
