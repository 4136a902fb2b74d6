/**
 * Reads what a run needs from a source before it moves any data: the selected tables (checked to
 * be in the publication, so that their changes reach the slot), their columns and types, and the
 * destination binding of each.
 */
import type { ResolvedSource } from '../config/load.js'
import { matchesPattern } from '../config/table-pattern.js'
import { InletError } from '../errors/inlet-error.js'
import type { SqlClient } from '../postgres/connect.js'
import { displayName, quoteIdent } from '../postgres/sql-text.js'
import { readPublication, readTables, serverVersionNum } from '../source/catalog.js'
import { key, partitionsOf, publishedTopLevel, selectTables } from '../source/selection.js'
import { readSourceTables } from '../source/table-schema.js'
import type { TableTarget, TypeMapping } from '../model/table-binding.js'
import { bindTarget } from './table-target.js'

export interface SourcePlan {
  readonly serverVersionNum: number
  readonly targets: readonly TableTarget[]
}

export async function planSource(client: SqlClient, source: ResolvedSource, defaultScd: 1 | 2, types: TypeMapping): Promise<SourcePlan> {
  const versionNum = await serverVersionNum(client)
  const tables = await readTables(client, source.connection.user)
  const publication = await readPublication(client, source.publication, versionNum)
  if (publication === undefined) {
    throw new InletError('INLET-S004', `The publication "${source.publication}" does not exist in ${source.connection.database}.`, {
      fix: `Create it with inlet setup --apply (or: CREATE PUBLICATION ${quoteIdent(source.publication)} FOR TABLE ...;), then run inlet doctor.`,
    })
  }
  const selection = selectTables(tables, source.tables, publication)
  for (const pattern of selection.unmatched) {
    throw new InletError('INLET-C004', `The table pattern "${pattern.text}" matches no table in ${source.connection.database}.`, { fix: 'Check the name in --tables or tables: (inlet doctor lists the tables it sees).' })
  }
  if (selection.tables.length === 0) {
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
  const unreadable = selection.tables.filter((t) => t.canSelect === false)
  if (unreadable.length > 0) {
    throw new InletError('INLET-S004', `The user ${source.connection.user} cannot read ${unreadable.map((t) => displayName(t.schema, t.name)).join(', ')}.`, {
      fix: unreadable.map((t) => `GRANT SELECT ON ${quoteIdent(t.schema)}.${quoteIdent(t.name)} TO ${quoteIdent(source.connection.user)};`).join(' '),
    })
  }
  // A partitioned table holds no rows: its leaves' identities are what PostgreSQL sends.
  const noIdentity = selection.tables
    .flatMap((t) => (t.kind === 'p' ? partitionsOf(tables, t) : [t]))
    .filter((t) => t.replicaIdentity === 'n' || (t.primaryKey.length === 0 && t.replicaIdentity === 'd'))
  if (noIdentity.length > 0 && publication.update) {
    throw new InletError('INLET-S004', `Tables without a primary key or replica identity cannot publish updates and deletes: ${noIdentity.map((t) => displayName(t.schema, t.name)).join(', ')}.`, {
      fix: noIdentity.map((t) => `ALTER TABLE ${quoteIdent(t.schema)}.${quoteIdent(t.name)} REPLICA IDENTITY FULL;`).join(' '),
    })
  }
  const sourceTables = await readSourceTables(client, selection.tables, tables, publication)
  const targets = sourceTables.map((table) => {
    const options = source.tableOptions.find((o) => matchesPattern(o.pattern, table.schema, table.name))
    return bindTarget(source.name, table, { scd: options?.scd ?? defaultScd, destSchema: options?.destSchema, destName: options?.destName, excludeColumns: options?.excludeColumns, schemaPrefix: source.destinationSchema, leafChanges: !publication.viaRoot }, types)
  })
  const destinations = new Map<string, TableTarget>()
  for (const t of targets) {
    const name = `${t.destSchema}.${t.destName}`
    const other = destinations.get(name)
    if (other !== undefined) throw new InletError('INLET-C007', `${other.display} and ${t.display} would both land in ${name}.`, { fix: 'Give one of them another name with as: in inlet.yaml.' })
    destinations.set(name, t)
  }
  return { serverVersionNum: versionNum, targets }
}
