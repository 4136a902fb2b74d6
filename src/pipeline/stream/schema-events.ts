/**
 * Schema changes as the stream shows them, turned into SchemaChange segments in stream order or
 * into a verdict that the table needs a new copy:
 * - Relation messages (always): PostgreSQL sends a table's Relation again before its first row
 *   after a change of its columns or key; compared with the table's binding they tell what changed.
 * - Rows of the DDL tracking script's audit table: each DDL at its place in the stream, also when
 *   no row follows, with attnums (a rename is a rename) and drops of tables.
 */
import type { Destination } from '../../destination/destination.js'
import type { Logger } from '../../observability/log.js'
import type { SourceMonitor } from '../../observability/run-monitor.js'
import type { SqlClient } from '../../postgres/connect.js'
import type { Lsn } from '../../protocol/lsn.js'
import { describeChange, type SchemaChange } from '../../model/schema-change.js'
import type { TableTarget } from '../../model/table-binding.js'
import type { Relation } from '../../source/stream/stream-events.js'
import { splitIdentity, type AuditRow } from '../ddl-audit.js'
import { columnsDiffer, evolveTarget, keyChanged, relationColumns, type RefreshNeeded } from '../schema-change.js'
import type { Batcher } from './batcher.js'
import type { CopiesInFlight } from './copies.js'
import type { NewTables } from './new-tables.js'
import type { PartitionWatch } from './partition-watch.js'
import type { PendingChanges } from './pending-changes.js'
import type { TableRouter } from './table-router.js'

export interface SchemaEventsOptions {
  readonly client: SqlClient
  readonly destination: Destination
  readonly log: Logger
  readonly live: SourceMonitor
  readonly router: TableRouter
  readonly pending: PendingChanges
  readonly batcher: Batcher
  readonly copies: CopiesInFlight
  readonly newTables: NewTables
  readonly partitions: PartitionWatch
}

/** A table that needs a new copy, and why. */
export type SchemaVerdict = (RefreshNeeded & { readonly base: TableTarget }) | undefined

export class SchemaEvents {
  constructor(private readonly options: SchemaEventsOptions) {}

  /** A Relation message, in the transaction committing at `finalLsn` (undefined outside one). */
  async relation(relation: Relation, finalLsn: Lsn | undefined): Promise<SchemaVerdict> {
    const { router, copies, pending, log } = this.options
    await this.options.newTables.adopt(relation.id, relation.schema, relation.name)
    const base = router.route(relation.id)
    if (base === undefined) return undefined
    if (router.named(relation.id, relation.schema, relation.name) && relation.id === base.table.oid) {
      log.info('schema.rename', `${base.display} is now ${relation.schema}.${relation.name}; it keeps streaming into ${base.destSchema}.${base.destName}.`, { table: base.display })
    }
    if (finalLsn === undefined || !router.admits(base, finalLsn)) return undefined
    const copy = copies.of(base)
    if (copy !== undefined) return void copy.relation(relation, finalLsn)
    const current = pending.binding(base)
    // A new primary key (replica identity DEFAULT) identifies rows differently: a new copy, keyed by it.
    const newKey = keyChanged(current, relation)
    if (newKey !== undefined) return { base, refresh: `The primary key of ${base.display} changed (now ${newKey.join(', ')}).` }
    const state = relationColumns(relation)
    if (!columnsDiffer(current, state)) return undefined
    return this.evolve(base, relation.id, state)
  }

  /** A row of the DDL tracking script's audit table: the DDL itself, at its place in the stream. */
  async audit(row: AuditRow, finalLsn: Lsn): Promise<SchemaVerdict> {
    const { router, copies, pending } = this.options
    const base = router.route(row.objectOid)
    if (base === undefined || !router.admits(base, finalLsn)) return undefined
    // ATTACH or DETACH PARTITION shows as an ALTER of the partitioned table.
    if (base.table.partitioned === true) this.options.partitions.soon()
    const copy = copies.of(base)
    const tableDropped = row.event === 'sql_drop' && row.objectType === 'table'
    if (copy !== undefined && !tableDropped) {
      // DDL on a table being copied: the copy may not have it; copy again after it.
      if (copy.mayMiss(finalLsn)) copies.start(base, `${base.display} changed (${row.commandTag ?? row.event}) during its copy.`)
      return undefined
    }
    if (copy !== undefined) copies.cancel(base)
    if (row.event === 'table_rewrite') {
      // A rewrite keeps values unless a USING expression or a volatile default computes new ones.
      const reason = Number(row.detail?.reason ?? 0)
      if ((reason & 2) !== 0 || /\bUSING\b/i.test(row.command ?? '')) {
        return { base, refresh: `${base.display} was rewritten by ${row.commandTag} (${(reason & 2) !== 0 ? 'a column added with a volatile default' : 'ALTER COLUMN TYPE ... USING'}): its rows changed without row events.` }
      }
      return undefined
    }
    if (tableDropped) return this.dropped(base)
    if (row.event !== 'ddl_command_end' || (row.objectType !== 'table' && row.objectType !== 'table column') || row.columns === undefined) return undefined
    const identity = row.objectIdentity === null ? undefined : splitIdentity(row.objectIdentity)
    if (identity !== undefined && router.named(row.objectOid, ...identity) && row.objectOid === base.table.oid) {
      this.options.log.info('schema.rename', `${base.display} is now ${row.objectIdentity}; it keeps streaming into ${base.destSchema}.${base.destName}.`, { table: base.display, now: row.objectIdentity })
    }
    // A new primary key identifies rows differently: the table is copied again under it.
    const current = pending.binding(base)
    const keyAttnums = current.key.map((i) => current.columns[i]?.source.attnum ?? 0)
    const samekey = row.primaryKey !== undefined && row.primaryKey.length === keyAttnums.length && row.primaryKey.every((a) => keyAttnums.includes(a))
    // (A partitioned table's audit row may name no key of its own: its leaves' Relation messages
    // flag the key they send, and a change of it is seen there.)
    const unknownKey = base.table.partitioned === true && (row.primaryKey?.length ?? 0) === 0
    if (row.primaryKey !== undefined && !unknownKey && current.table.replicaIdentity === 'd' && !samekey && keyAttnums.every((a) => a > 0)) {
      return { base, refresh: `The primary key of ${base.display} changed (now attnums ${row.primaryKey.join(', ') || 'none'}).` }
    }
    if (!columnsDiffer(current, row.columns)) return undefined
    return this.evolve(base, row.objectOid, row.columns)
  }

  private async evolve(base: TableTarget, relationId: number, state: Parameters<typeof columnsDiffer>[1]): Promise<SchemaVerdict> {
    const { client, destination, pending, batcher, log } = this.options
    const changes = pending.of(base)
    const change = await evolveTarget(client, changes.target, relationId, state, destination.types)
    if ('refresh' in change) return { base, refresh: change.refresh }
    changes.alter(change)
    batcher.changes++
    log.info('schema.change', `Schema of ${base.display} changed: ${describeChange(change)}.`, {
      table: base.display,
      added: change.added.map((a) => a.column.name).join(','),
      dropped: change.dropped.join(','),
      retyped: change.retyped.map((r) => r.column.name).join(','),
    })
    return undefined
  }

  /** The source table was dropped: what came before applies, then the destination table is marked. */
  private dropped(base: TableTarget): SchemaVerdict {
    const { router, pending, batcher, live, log } = this.options
    pending.of(base).dropTable()
    router.drop(base)
    live.table(base.display, `${base.destSchema}.${base.destName}`).phase = 'dropped'
    batcher.changes++
    log.info('schema.drop', `${base.display} was dropped in the source; ${base.destSchema}.${base.destName} is kept and marked dropped.`, { table: base.display })
    return undefined
  }
}
