/**
 * What the pipeline needs to know about each selected table: its published columns with their
 * types (domains, arrays and enums resolved to what they are built on), the key that identifies a
 * row, and the heap relations that hold its rows (the leaf partitions of a partitioned table) with
 * their size, for chunking the snapshot.
 */
import { InletError } from '../errors/inlet-error.js'
import type { SqlClient } from '../postgres/connect.js'
import type { PgType, SourceColumn, SourceTable, HeapRelation } from '../model/source-table.js'
import type { PublicationFacts, TableFacts } from './preflight/facts.js'
import { partitionsOf } from './selection.js'

interface TypeRow {
  oid: number
  name: string
  typtype: string
  category: string
  elem: number
  base: number
  base_typmod: number
  typlen: number
}

export async function readSourceTables(client: SqlClient, tables: readonly TableFacts[], allTables: readonly TableFacts[], publication: PublicationFacts | undefined): Promise<SourceTable[]> {
  if (tables.length === 0) return []
  const oids = tables.map((t) => t.oid)
  const { rows: columnRows } = await client.query<{ relid: number; attnum: number; name: string; type_oid: number; typmod: number; type_name: string; dims: number; not_null: boolean; identity_index_cols: string[] | null }>(
    /* sql */ `select a.attrelid::int8 as relid, a.attnum::int as attnum, a.attname::text as name, a.atttypid::int8 as type_oid, a.atttypmod as typmod,
         format_type(a.atttypid, a.atttypmod) as type_name, a.attndims as dims, a.attnotnull as not_null,
         (select array_agg(ia.attname::text order by array_position(i.indkey::int2[], ia.attnum))
            from pg_index i join pg_attribute ia on ia.attrelid = i.indrelid and ia.attnum = any(i.indkey)
           where i.indrelid = a.attrelid and i.indisreplident) as identity_index_cols
       from pg_attribute a
       where a.attrelid = any($1::oid[]) and a.attnum > 0 and not a.attisdropped
         and (a.attgenerated = '' or ($2 and a.attgenerated = 's'))
       order by a.attrelid, a.attnum`,
    // Stored generated columns are in the stream only when the publication publishes them (18+).
    [oids, publication?.generatedColumns === true],
  )
  const types = await resolveTypes(client, [...new Set(columnRows.map((r) => Number(r.type_oid)))])
  const heaps = await readHeaps(client, tables, allTables)
  const leafIndexes = await leafIdentityIndexes(client, tables, heaps)
  return tables.map((table) => {
    const member = publication?.members.find((m) => m.schema === table.schema && m.table === table.name)
    const published = member?.columns === undefined ? undefined : new Set(member.columns)
    const rows = columnRows.filter((r) => Number(r.relid) === table.oid)
    const columns = rows
      .filter((r) => published === undefined || published.has(r.name))
      .map((r): SourceColumn => ({
        name: r.name,
        attnum: r.attnum,
        typeName: r.type_name,
        typeOid: Number(r.type_oid),
        typeModifier: r.typmod,
        type: typeOf(types, Number(r.type_oid), r.typmod),
        dimensions: r.dims,
        notNull: r.not_null,
      }))
    // Rows are identified by what PostgreSQL sends as the old key: the replica identity index when
    // there is one (USING INDEX, even beside a primary key), else the primary key.
    // (A partitioned table's changes are its leaves': their identity indexes, when all agree.)
    const identityIndex = (table.kind === 'p' ? leafIndexes.get(table.oid) : rows[0]?.identity_index_cols) ?? []
    // A DEFERRABLE key under REPLICA IDENTITY FULL: rows are told apart by all their values (a
    // statement may hold a key twice for a moment; the whole old row says which one it changed).
    // (A partitioned table without partitions yet is not FULL: its first ones may not be.)
    const leaves = table.kind === 'p' ? partitionsOf(allTables, table) : []
    const full = table.kind === 'p' ? leaves.length > 0 && leaves.every((p) => p.replicaIdentity === 'f') : table.replicaIdentity === 'f'
    const usingIndex = table.kind === 'p' ? identityIndex.length > 0 : table.replicaIdentity === 'i'
    const key = table.keyDeferrable === true && full ? [] : usingIndex && identityIndex.length > 0 ? identityIndex : table.primaryKey.length > 0 ? table.primaryKey : identityIndex
    return { oid: table.oid, schema: table.schema, name: table.name, columns, key, replicaIdentity: table.replicaIdentity, heaps: heaps.get(table.oid) ?? [], partitioned: table.kind === 'p' }
  })
}

/**
 * Per partitioned table whose leaf partitions all have REPLICA IDENTITY USING INDEX on the same
 * columns: those columns (what the leaves' Relation messages flag as the key).
 */
async function leafIdentityIndexes(client: SqlClient, tables: readonly TableFacts[], heaps: ReadonlyMap<number, readonly HeapRelation[]>): Promise<Map<number, string[]>> {
  const partitioned = tables.filter((t) => t.kind === 'p' && (heaps.get(t.oid)?.length ?? 0) > 0)
  if (partitioned.length === 0) return new Map()
  const leaves = partitioned.flatMap((t) => (heaps.get(t.oid) ?? []).map((h) => h.oid))
  const { rows } = await client.query<{ relid: string; cols: string[] | null }>(
    `select c.oid::int8 as relid,
            (select array_agg(a.attname::text order by array_position(i.indkey::int2[], a.attnum))
               from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)
              where i.indrelid = c.oid and i.indisreplident) as cols
       from pg_class c where c.oid = any($1::oid[]) and c.relreplident = 'i'`,
    [leaves],
  )
  const byLeaf = new Map(rows.map((r) => [Number(r.relid), r.cols ?? []]))
  const result = new Map<number, string[]>()
  for (const t of partitioned) {
    const sets = (heaps.get(t.oid) ?? []).map((h) => byLeaf.get(h.oid))
    const first = sets[0]
    if (first === undefined || first.length === 0) continue
    const same = (cols: string[] | undefined) => cols !== undefined && cols.length === first.length && cols.every((c) => first.includes(c))
    if (sets.every(same)) result.set(t.oid, first)
  }
  return result
}

/** The table itself, or its leaf partitions, with their current size. */
async function readHeaps(client: SqlClient, tables: readonly TableFacts[], allTables: readonly TableFacts[]): Promise<Map<number, HeapRelation[]>> {
  const members = new Map<number, TableFacts[]>()
  for (const t of tables) {
    members.set(
      t.oid,
      t.kind === 'r' ? [t] : allTables.filter((p) => p.kind === 'r' && p.root !== undefined && p.root.schema === t.schema && p.root.name === t.name),
    )
  }
  const all = [...members.values()].flat()
  if (all.length === 0) return new Map()
  const { rows } = await client.query<{ oid: string; pages: string; reltuples: number }>(
    `select c.oid::int8::text as oid, (pg_relation_size(c.oid) / current_setting('block_size')::int)::int8::text as pages, c.reltuples::float8 as reltuples
       from pg_class c where c.oid = any($1::oid[])`,
    [all.map((t) => t.oid)],
  )
  const size = new Map(rows.map((r) => [Number(r.oid), r]))
  const result = new Map<number, HeapRelation[]>()
  for (const [oid, list] of members) {
    result.set(
      oid,
      list.map((t) => {
        const s = size.get(t.oid)
        return { oid: t.oid, schema: t.schema, name: t.name, pages: Number(s?.pages ?? 0), estimatedRows: Math.max(0, s?.reltuples ?? 0) }
      }),
    )
  }
  return result
}

/** Loads pg_type rows for the given OIDs and every type they are built on. */
export async function resolveTypes(client: SqlClient, oids: readonly number[]): Promise<Map<number, TypeRow>> {
  const known = new Map<number, TypeRow>()
  let wanted = oids.filter((o) => o !== 0)
  while (wanted.length > 0) {
    const { rows } = await client.query<TypeRow>(
      `select t.oid::int8 as oid, format_type(t.oid, null) as name, t.typtype::text as typtype, t.typcategory::text as category,
              t.typelem::int8 as elem, t.typbasetype::int8 as base, t.typtypmod as base_typmod, t.typlen::int as typlen
         from pg_type t where t.oid = any($1::oid[])`,
      [wanted],
    )
    for (const r of rows) known.set(Number(r.oid), { ...r, oid: Number(r.oid), elem: Number(r.elem), base: Number(r.base) })
    wanted = [...new Set(rows.flatMap((r) => [Number(r.elem), Number(r.base)]))].filter((o) => o !== 0 && !known.has(o))
  }
  return known
}

export function typeOf(types: ReadonlyMap<number, TypeRow>, oid: number, typmod: number): PgType {
  const row = types.get(oid)
  if (row === undefined) throw new InletError('INLET-S001', `The source type with OID ${oid} was not found in pg_type.`)
  if (row.typtype === 'd') return typeOf(types, row.base, typmod >= 0 ? typmod : row.base_typmod)
  // int2vector and oidvector are category A too, but print as space-separated lists: text.
  if (row.category === 'A' && row.elem !== 0 && row.typlen === -1 && row.oid !== 22 && row.oid !== 30) return { kind: 'array', element: typeOf(types, row.elem, typmod) }
  if (row.typtype === 'e') return { kind: 'enum', name: row.name }
  if (row.typtype === 'b' && row.oid < 16384) return { kind: 'base', oid: row.oid, name: row.name, typmod }
  return { kind: 'other', name: row.name }
}
