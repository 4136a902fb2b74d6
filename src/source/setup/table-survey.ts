/**
 * The tables a newcomer can choose from in `inlet init`: each top-level table (partitions count
 * with their root) with its size, estimated rows, key, replica identity and TOAST-able columns,
 * and what replicating it will need.
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

export async function surveyTables(client: SqlClient, tables: readonly TableFacts[]): Promise<SurveyedTable[]> {
  const top = tables.filter((t) => t.root === undefined && t.schema !== DDL_SCHEMA)
  if (top.length === 0) return []
  // reltuples is -1 before the first ANALYZE on PostgreSQL 14+ (0 on 13, where it cannot be told apart).
  const { rows } = await client.query<{ oid: string; bytes: string; reltuples: string; columns: string[] }>(
    /* sql */ `select c.oid::int8::text as oid,
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
  return top.map((facts) => {
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
}
