/**
 * Reads what a run needs from a source before it moves any data: the selected tables (checked to
 * be in the publication, so that their changes reach the slot), their columns and types, and the
 * destination binding of each. A table that cannot be followed exactly (no SELECT, no replica
 * identity, a deferrable key without FULL, a name the destination cannot tell from another's) is
 * skipped with its reason and fix; the others go on.
 */
import type { ResolvedSource } from '../config/load.js'
import { matchesPattern, type TablePattern } from '../config/table-pattern.js'
import { InletError } from '../errors/inlet-error.js'
import type { SqlClient } from '../postgres/connect.js'
import { displayName, quoteIdent } from '../postgres/sql-text.js'
import { readPublication, readTables, serverVersionNum } from '../source/catalog.js'
import { key, partitionsOf, publishedTopLevel, selectTables } from '../source/selection.js'
import { readSourceTables } from '../source/table-schema.js'
import type { TableTarget, TypeMapping } from '../model/table-binding.js'
import type { TableFacts } from '../source/preflight/facts.js'
import { bindTarget } from './table-target.js'

/** A selected table the run cannot follow: skipped (the others stream), reported in status and metrics. */
export interface SkippedTable {
  readonly oid: number
  readonly schema: string
  readonly name: string
  readonly display: string
  readonly reason: string
  readonly fix?: string | undefined
}

export interface SourcePlan {
  readonly serverVersionNum: number
  readonly targets: readonly TableTarget[]
  readonly skipped: readonly SkippedTable[]
  /** Patterns of the selection that match no table now (a table renamed since, or a typo). */
  readonly unmatched: readonly TablePattern[]
}

/** What planning needs of the destination: its types, and how it compares names. */
export interface PlanDestination {
  readonly types: TypeMapping
  nameKey(schema: string, table: string): string
}

/**
 * A table dropped while the catalogue is read: the views list it from one catalogue snapshot and
 * then open it (pg_publication_tables does, for its columns), which fails for a table gone between.
 */
export function droppedMeanwhile(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown }
  return e.code === 'XX000' && typeof e.message === 'string' && /could not open relation with OID|cache lookup failed for relation/.test(e.message)
}

/** `followed`: OIDs of tables selected under a name they no longer have (renamed since), taken in as well. */
export async function planSource(client: SqlClient, source: ResolvedSource, defaultScd: 1 | 2, destination: PlanDestination, followed: readonly number[] = []): Promise<SourcePlan> {
  for (let attempt = 1; ; attempt++) {
    try {
      const plan = await planOnce(client, source, defaultScd, destination, followed)
      // PostgreSQL 13 and 14 list a table from the catalogue snapshot their view started with, even
      // when its DROP committed while the view waited on the table's lock: a new statement sees it
      // gone, and so does the plan.
      const gone = await goneSince(client, plan)
      return gone.size === 0 ? plan : { ...plan, targets: plan.targets.filter((t) => !gone.has(t.table.oid)), skipped: plan.skipped.filter((t) => !gone.has(t.oid)) }
    } catch (error) {
      // Read again: the next reading no longer sees the dropped table.
      if (attempt >= 5 || !droppedMeanwhile(error)) throw error
      await new Promise((r) => setTimeout(r, 20 * attempt))
    }
  }
}

/** OIDs of the plan's tables (followed or skipped) that no longer exist. */
async function goneSince(client: SqlClient, plan: SourcePlan): Promise<Set<number>> {
  const oids = [...plan.targets.map((t) => t.table.oid), ...plan.skipped.map((t) => t.oid)]
  if (oids.length === 0) return new Set()
  const { rows } = await client.query<{ oid: string }>('select oid::int8::text as oid from pg_class where oid = any($1::oid[])', [oids])
  const present = new Set(rows.map((r) => Number(r.oid)))
  return new Set(oids.filter((o) => !present.has(o)))
}

/** planSource without the retry, for a client inside a transaction (whose failure the caller handles). */
export async function planOnce(client: SqlClient, source: ResolvedSource, defaultScd: 1 | 2, destination: PlanDestination, followed: readonly number[] = []): Promise<SourcePlan> {
  const versionNum = await serverVersionNum(client)
  const tables = await readTables(client, source.connection.user)
  const publication = await readPublication(client, source.publication, versionNum)
  if (publication === undefined) {
    throw new InletError('INLET-S004', `The publication "${source.publication}" does not exist in ${source.connection.database}.`, {
      fix: `Create it with inlet setup --apply (or: CREATE PUBLICATION ${quoteIdent(source.publication)} FOR TABLE ...;), then run inlet doctor.`,
    })
  }
  const chosen = selectTables(tables, source.tables, publication)
  const extra = tables.filter((t) => followed.includes(t.oid) && !chosen.tables.includes(t))
  const selection = { ...chosen, tables: [...chosen.tables, ...extra] }
  if (selection.tables.length === 0 && selection.unmatched.length === 0) {
    throw new InletError('INLET-S004', `No table to replicate: the publication "${source.publication}" has no tables and no --tables were given.`, {
      fix: `ALTER PUBLICATION ${quoteIdent(source.publication)} ADD TABLE schema.table;  (or inlet setup --apply --tables ...)`,
    })
  }
  const published = publishedTopLevel(tables, publication)
  const missing = publication.allTables ? [] : selection.tables.filter((t) => !published.has(key(t.schema, t.name)))
  if (missing.length > 0) {
    const names = missing.map((t) => displayName(t.schema, t.name))
    throw new InletError('INLET-S004', `Selected tables are not in the publication "${source.publication}", so their changes would never arrive: ${names.join(', ')}.`, {
      fix: `ALTER PUBLICATION ${quoteIdent(source.publication)} ADD TABLE ${missing.map((t) => `${quoteIdent(t.schema)}.${quoteIdent(t.name)}`).join(', ')};`,
    })
  }
  const skipped: SkippedTable[] = []
  const followable = selection.tables.filter((t) => {
    const problem = unfollowable(t, tables, publication.update, source.connection.user)
    if (problem !== undefined) skipped.push({ oid: t.oid, schema: t.schema, name: t.name, display: displayName(t.schema, t.name), ...problem })
    return problem === undefined
  })
  const sourceTables = await readSourceTables(client, followable, tables, publication)
  const bound = sourceTables.map((table) => {
    const options = source.tableOptions.find((o) => matchesPattern(o.pattern, table.schema, table.name))
    return bindTarget(source.name, table, { scd: options?.scd ?? defaultScd, destSchema: options?.destSchema, destName: options?.destName, excludeColumns: options?.excludeColumns, schemaPrefix: source.destinationSchema, leafChanges: !publication.viaRoot }, destination.types)
  })
  const targets = landable(bound, destination, skipped)
  if (targets.length === 0 && skipped.length > 0 && selection.unmatched.length === 0) {
    const first = skipped[0] as SkippedTable
    throw new InletError('INLET-S004', `No selected table can be followed: ${skipped.map((t) => `${t.display} (${t.reason})`).join('; ')}.`, first.fix === undefined ? {} : { fix: first.fix })
  }
  return { serverVersionNum: versionNum, targets, skipped, unmatched: selection.unmatched }
}

/** INLET-C004 for selection patterns that match no table. */
export function unmatchedError(patterns: readonly TablePattern[], database: string): InletError {
  return new InletError('INLET-C004', `The table pattern${patterns.length > 1 ? 's' : ''} ${patterns.map((p) => `"${p.text}"`).join(', ')} match${patterns.length > 1 ? '' : 'es'} no table in ${database}.`, { fix: 'Check the name in --tables or tables: (inlet doctor lists the tables it sees).' })
}

/** What keeps a table from being followed exactly, with its fix; undefined when nothing does. */
function unfollowable(t: TableFacts, tables: readonly TableFacts[], publishesUpdates: boolean, user: string): { reason: string; fix?: string } | undefined {
  const name = `${quoteIdent(t.schema)}.${quoteIdent(t.name)}`
  if (t.canSelect === false) return { reason: `the user ${user} cannot read it`, fix: `GRANT SELECT ON ${name} TO ${quoteIdent(user)};` }
  // A partitioned table holds no rows: its leaves' identities are what PostgreSQL sends.
  const heaps = t.kind === 'p' ? partitionsOf(tables, t) : [t]
  const noIdentity = heaps.filter((h) => h.replicaIdentity === 'n' || (h.primaryKey.length === 0 && h.replicaIdentity === 'd'))
  if (noIdentity.length > 0 && publishesUpdates) {
    return { reason: 'no primary key or replica identity, so PostgreSQL cannot publish its updates and deletes', fix: noIdentity.map((h) => `ALTER TABLE ${quoteIdent(h.schema)}.${quoteIdent(h.name)} REPLICA IDENTITY FULL;`).join(' ') }
  }
  // A DEFERRABLE key may be held by two rows inside a transaction (UPDATE t SET id = id + 1): the
  // old key alone does not say which row an update or delete meant, the whole old row does.
  if (t.keyDeferrable === true && heaps.some((h) => h.replicaIdentity !== 'f')) {
    return { reason: 'its key is DEFERRABLE, and with REPLICA IDENTITY DEFAULT or USING INDEX an update that moves keys onto keys it vacates cannot be told apart', fix: heaps.map((h) => `ALTER TABLE ${quoteIdent(h.schema)}.${quoteIdent(h.name)} REPLICA IDENTITY FULL;`).join(' ') }
  }
  return undefined
}

/**
 * The tables that can land: two tables (or two columns of one) whose names the destination does
 * not tell apart (DuckDB ignores case) cannot; the oldest lands, the others are skipped with the
 * way out (`as:`, `exclude_columns:`).
 */
function landable(targets: readonly TableTarget[], destination: PlanDestination, skipped: SkippedTable[]): TableTarget[] {
  const landing = new Map<string, TableTarget>()
  const out: TableTarget[] = []
  // The older table (lower OID) lands: the one streamed there already, not one created since.
  for (const t of [...targets].sort((a, b) => a.table.oid - b.table.oid)) {
    const skip = (reason: string, fix: string) => skipped.push({ oid: t.table.oid, schema: t.table.schema, name: t.table.name, display: t.display, reason, fix })
    const other = landing.get(destination.nameKey(t.destSchema, t.destName))
    if (other !== undefined) {
      skip(`it would land in ${other.destSchema}.${other.destName}, where ${other.display} lands (the destination does not tell the names apart)`, `Map one of them elsewhere with as: in inlet.yaml, e.g. - table: ${t.display}\n    as: ${t.destSchema}.${t.destName}_2`)
      continue
    }
    const seen = new Map<string, string>()
    const clash = t.columns.find((c) => {
      const k = destination.nameKey('', c.name)
      const before = seen.get(k)
      seen.set(k, c.name)
      return before !== undefined
    })
    if (clash !== undefined) {
      skip(`its columns ${seen.get(destination.nameKey('', clash.name)) === clash.name ? '' : `"${clash.name}" and another `}differ only in case, which the destination does not tell apart`, `Leave one out with exclude_columns: [${JSON.stringify(clash.name)}] for ${t.display} in inlet.yaml, or rename it in the source.`)
      continue
    }
    landing.set(destination.nameKey(t.destSchema, t.destName), t)
    out.push(t)
  }
  return out
}
