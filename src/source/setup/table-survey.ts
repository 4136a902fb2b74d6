/**
 * The tables a newcomer can choose from in `inlet init`: each top-level table (partitions count
 * with their root) with its size, estimated rows, key, replica identity and TOAST-able columns,
 * and what replicating it will need. Tables that belong to an extension are left out.
 */
import type { SqlClient } from '../../postgres/connect.js'
import { displayName } from '../../postgres/sql-text.js'
import { DDL_SCHEMA } from '../ddl-tracking.js'
import { identityVerdict } from '../preflight/checks/replica-identity.js'
import type { TableFacts } from '../preflight/facts.js'

export interface SurveyedTable {
  readonly facts: TableFacts
  readonly display: string
  /** Heap, indexes and TOAST, partitions included. */
  readonly bytes: number
  /** From the planner's statistics; null when the table was never analyzed. */
  readonly estimatedRows: number | null
  /** What the table needs before its changes can be replicated exactly, if anything. */
  readonly needs: 'replica identity full' | undefined
  readonly identityNote: string
  /** Every column that is replicated (not dropped, not generated), in order. */
  readonly columns: readonly string[]
}

export interface Survey {
  readonly tables: readonly SurveyedTable[]
  /** Tables an extension owns: never offered, and a pattern that would match one is written as names. */
  readonly extensionOwned: ReadonlyArray<{ readonly schema: string; readonly name: string }>
}

export async function surveyTables(client: SqlClient, tables: readonly TableFacts[]): Promise<Survey> {
  const top = tables.filter((t) => t.root === undefined && t.schema !== DDL_SCHEMA)
  if (top.length === 0) return { tables: [], extensionOwned: [] }
  // reltuples is -1 before the first ANALYZE on PostgreSQL 14+ (0 on 13, where it cannot be told apart).
  const { rows } = await client.query<{ oid: string; bytes: string; reltuples: string; columns: string[]; extension: boolean }>(
    /* sql */ `select c.oid::int8::text as oid,
         exists (select 1 from pg_depend d where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'e') as extension,
         coalesce((select array_agg(a.attname::text order by a.attnum) from pg_attribute a
                   where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped and a.attgenerated = ''), '{}') as columns,
         case when c.relkind = 'p'
              then (select coalesce(sum(pg_total_relation_size(p.relid)), 0) from pg_partition_tree(c.oid) p)
              else pg_total_relation_size(c.oid) end::int8::text as bytes,
         case when c.relkind = 'p'
              then (select coalesce(sum(greatest(pc.reltuples, 0)), 0) + case when bool_and(pc.reltuples < 0) then -1 else 0 end
                      from pg_partition_tree(c.oid) p join pg_class pc on pc.oid = p.relid where p.isleaf)
              else c.reltuples end::int8::text as reltuples
       from pg_class c where c.oid = any($1::oid[])`,
    [top.map((t) => t.oid)],
  )
  const byOid = new Map(rows.map((r) => [Number(r.oid), r]))
  // An extension's own tables (PostGIS spatial_ref_sys, pg_cron's jobs) are its business, not data to replicate.
  const owned = (facts: TableFacts) => byOid.get(facts.oid)?.extension === true
  const surveyed = top.filter((facts) => !owned(facts)).map((facts): SurveyedTable => {
    const row = byOid.get(facts.oid)
    const estimate = row === undefined ? -1 : Number(row.reltuples)
    const { verdict, why } = identityVerdict(facts)
    return {
      facts,
      display: displayName(facts.schema, facts.name),
      bytes: row === undefined ? 0 : Number(row.bytes),
      estimatedRows: estimate < 0 ? null : estimate,
      needs: verdict === 'missing' ? 'replica identity full' : undefined,
      identityNote: why,
      columns: row?.columns ?? [],
    }
  })
  return { tables: surveyed, extensionOwned: top.filter(owned).map((t) => ({ schema: t.schema, name: t.name })) }
}
