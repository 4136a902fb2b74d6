/**
 * Schema evolution seen through pgoutput Relation messages. PostgreSQL sends a table's Relation
 * message again before the first row that follows a change of its columns, so comparing it with
 * the destination's current binding tells what changed:
 *
 * - a new column: added to the destination. Rows that existed at the ALTER get the column's
 *   "missing value" (ADD COLUMN ... DEFAULT constant fills them without any row event), read from
 *   pg_attribute; NULL without a default.
 * - a column gone: kept in the destination, NULL in rows written from then on.
 * - a renamed column: renamed in place. Its attnum comes from the DDL tracking script's audit
 *   row, or from the catalog when the new name is still there (see renamedAttnums).
 * - a new type: the destination column is widened in place when its type can hold every old and
 *   new value (int2 → int4 → int8, float4 → float8, wider DECIMAL); a narrower type is written
 *   into the wider column as it is; anything else needs the table copied again.
 *
 * What Relation messages cannot show (documented in the README): a change to a table no row of
 * which changes afterwards is seen only at its next row; a rename renamed again before its next
 * row looks like a drop plus an add;
 * a rewrite that changes values (ALTER TYPE ... USING, ADD COLUMN with a volatile default) sends
 * no row events. The DDL tracking script covers these.
 */
import { InletError } from '../errors/inlet-error.js'
import type { SqlClient } from '../postgres/connect.js'
import type { AddedColumn, ColumnState, RetypedColumn, SchemaChange } from '../model/schema-change.js'
import type { SourceColumn } from '../model/source-table.js'
import type { TableTarget, TargetColumn, TypeMapping } from '../model/table-binding.js'
import type { Relation } from '../source/stream/stream-events.js'
import { resolveTypes, typeOf } from '../source/table-schema.js'

/** A change the destination cannot follow in place: the table needs a new copy (INLET-S007 when none is made). */
export interface RefreshNeeded {
  readonly refresh: string
}

export function refreshNeededError(target: TableTarget, reason: string): InletError {
  return new InletError('INLET-S007', reason, { fix: `Copy the table again: inlet refresh ${target.display} (while no inlet run holds the destination), then rerun inlet run.` })
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
export async function evolveTarget(client: SqlClient, target: TableTarget, relationId: number, state: readonly ColumnState[], types: TypeMapping): Promise<SchemaChange | RefreshNeeded> {
  const excluded = new Set(target.excluded)
  const published = state.filter((c) => !excluded.has(c.name))
  const pgTypes = await resolveTypes(client, published.map((c) => c.typeOid))
  const added: AddedColumn[] = []
  const retyped: RetypedColumn[] = []
  const renamed: Array<{ from: string; to: string }> = []
  const columns: TargetColumn[] = []
  const catalog = await renamedAttnums(client, target, published)
  for (const given of published) {
    const c = given.attnum === undefined && catalog.has(given.name) ? { ...given, attnum: catalog.get(given.name) } : given
    // The same column: by attnum when the audit row gives it (a rename keeps it), else by name.
    const old = c.attnum !== undefined ? (target.columns.find((t) => t.source.attnum === c.attnum) ?? target.columns.find((t) => t.name === c.name && t.source.attnum <= 0)) : target.columns.find((t) => t.name === c.name)
    if (old !== undefined && old.name !== c.name) renamed.push({ from: old.name, to: c.name })
    const type = typeOf(pgTypes, c.typeOid, c.typeModifier)
    const source: SourceColumn = {
      name: c.name,
      attnum: c.attnum ?? old?.source.attnum ?? 0,
      typeName: pgTypes.get(c.typeOid)?.name ?? String(c.typeOid),
      typeOid: c.typeOid,
      typeModifier: c.typeModifier,
      type,
      dimensions: old?.source.dimensions ?? (type.kind === 'array' ? 1 : 0),
      notNull: old?.source.notNull ?? false,
    }
    const column: TargetColumn = { name: c.name, source, type: types.columnType(source) }
    columns.push(column)
    // (A partitioned table stores no rows, so its own catalog row has no missing value: its leaves' do.)
    const fromAudit = c.missing === null && target.table.partitioned === true ? undefined : c.missing
    if (old === undefined) added.push({ column, fill: fromAudit !== undefined ? fromAudit : await missingValue(client, target, relationId, c.name) })
    else if (old.source.typeOid !== c.typeOid || typmodOf(old.source) !== c.typeModifier) {
      if (old.type.name === column.type.name) continue
      if (types.widens(old.type.name, column.type.name)) retyped.push({ column, from: old.type, widen: true })
      else if (types.widens(column.type.name, old.type.name)) retyped.push({ column, from: old.type, widen: false })
      else return { refresh: `${target.display}.${c.name} changed type from ${old.source.typeName} to ${source.typeName}, which ${target.destSchema}.${target.destName} (${old.type.name}) cannot hold in place.` }
    }
  }
  const dropped = target.columns.filter((t) => !columns.some((c) => c.name === t.name) && !renamed.some((r) => r.from === t.name)).map((t) => t.name)
  const renamedTo = (name: string) => renamed.find((r) => r.from === name)?.to ?? name
  const keyNames = target.key.map((i) => renamedTo((target.columns[i] as TargetColumn).name))
  const key = keyNames.map((n) => columns.findIndex((c) => c.name === n))
  if (key.some((i) => i < 0)) return { refresh: `A key column of ${target.display} (${keyNames.join(', ')}) was dropped.` }
  return { target: { ...target, columns, key }, added, dropped, retyped, renamed }
}

/**
 * A Relation message names columns without attnums, so a rename looks like a column gone and one
 * added. When both show, the catalog tells: a new name whose attnum is a gone column's is that
 * column renamed (attnums are never reused). It reads the catalog as it is now, so a column
 * renamed again since is not found and stays a drop plus an add, as before.
 */
async function renamedAttnums(client: SqlClient, target: TableTarget, published: readonly ColumnState[]): Promise<Map<string, number>> {
  const added = published.filter((c) => c.attnum === undefined && !target.columns.some((t) => t.name === c.name)).map((c) => c.name)
  const gone = target.columns.filter((t) => t.source.attnum > 0 && !published.some((c) => c.name === t.name))
  if (added.length === 0 || gone.length === 0) return new Map()
  // The bound table's own attnums (a leaf partition's, whose Relation this may be, can differ).
  const { rows } = await client.query<{ name: string; attnum: number }>(`select attname as name, attnum from pg_attribute where attrelid = $1 and attname = any($2::text[]) and attnum > 0 and not attisdropped`, [target.table.oid, added])
  return new Map(rows.filter((r) => gone.some((g) => g.source.attnum === Number(r.attnum))).map((r) => [r.name, Number(r.attnum)]))
}

/** The column's atttypmod as the stream reports it (older records: the base type's). */
function typmodOf(column: SourceColumn): number {
  if (column.typeModifier !== undefined) return column.typeModifier
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

/**
 * The relation's key when it differs from the one the table is bound with: the Relation message
 * flags the key columns (primary key under DEFAULT, the index under USING INDEX); a switch between
 * the two is a new key too. Else undefined (FULL and NOTHING flag no key of ours).
 */
export function keyChanged(target: TableTarget, relation: Relation): string[] | undefined {
  const keyed = (identity: string) => identity === 'd' || identity === 'i'
  if (!keyed(relation.replicaIdentity) || !keyed(target.table.replicaIdentity)) return undefined
  // The Relation message flags key columns in column order; the key may be declared in another.
  const relationKey = relation.columns.filter((c) => c.key).map((c) => c.name)
  const boundKey = new Set(target.key.map((i) => target.columns[i]?.source.name))
  const same = relationKey.length === boundKey.size && relationKey.every((name) => boundKey.has(name))
  return relationKey.length > 0 && !same ? relationKey : undefined
}
