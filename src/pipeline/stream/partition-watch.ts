/**
 * Leaf partitions coming and going under a partitioned table. PostgreSQL sends no row event for
 * ATTACH PARTITION or DETACH PARTITION, so the leaves are read from the catalog (every few
 * seconds, when a DDL audit row or a Relation message suggests it, and at start) and compared
 * with those the table holds:
 * - a new leaf holding rows (attached with them) is copied beside the stream, its rows added;
 *   an empty one (CREATE TABLE ... PARTITION OF) just takes its changes from now on;
 * - a leaf gone (detached, or dropped) takes its rows out of the table (SCD2: closes them).
 * This is exact for tables whose rows record their partition (publication without
 * publish_via_partition_root); with it on, the table is copied again instead (auto_refresh).
 */
import type { ResolvedConfig } from '../../config/load.js'
import type { Destination } from '../../destination/destination.js'
import type { HeapRelation } from '../../model/source-table.js'
import type { TableTarget } from '../../model/table-binding.js'
import type { Logger } from '../../observability/log.js'
import type { SqlClient } from '../../postgres/connect.js'
import { quoteIdent } from '../../postgres/sql-text.js'
import type { Lsn } from '../../protocol/lsn.js'
import type { Batcher } from './batcher.js'
import { microsToTimestamp } from './committer.js'
import { autoRefreshes, type CopiesInFlight } from './copies.js'
import type { PendingChanges } from './pending-changes.js'
import type { TableRouter } from './table-router.js'

/** How often the leaves of partitioned tables are read. */
const PARTITION_CHECK_MS = 5_000

export interface PartitionWatchOptions {
  readonly client: SqlClient
  readonly config: ResolvedConfig
  readonly destination: Destination
  readonly log: Logger
  readonly router: TableRouter
  readonly pending: PendingChanges
  readonly batcher: Batcher
  readonly copies: CopiesInFlight
}

export class PartitionWatch {
  private last = Date.now()
  private asked = false

  constructor(private readonly options: PartitionWatchOptions) {}

  /** A DDL or a new relation may have moved partitions: look at the next transaction boundary. */
  soon(): void {
    this.asked = true
  }

  /** Compares leaves when due; only at a transaction boundary (`lsn`: the stream's position). */
  async due(lsn: Lsn, now = Date.now()): Promise<void> {
    if (!this.asked && now - this.last < PARTITION_CHECK_MS) return
    this.last = now
    this.asked = false
    for (const base of this.options.router.targets) {
      if (base.table.partitioned !== true || this.options.router.isDropped(base)) continue
      const leaves = await this.leavesOf(base)
      if (leaves === undefined) continue
      const known = new Set(this.options.router.leaves(base))
      for (const leaf of leaves) if (!known.has(leaf.oid)) await this.arrived(base, leaf)
      for (const oid of known) if (!leaves.some((l) => l.oid === oid)) this.left(base, oid, lsn)
    }
  }

  /**
   * At start: the destination's partitions against the catalog's leaves. A leaf with rows the
   * destination has none of is copied (a copy of a partition the stream also fills is exact: its
   * changes before the copy's snapshot are dropped); a partition the catalog no longer has leaves.
   */
  private pendingReconcile: { readonly targets: readonly TableTarget[]; readonly at: Lsn } | undefined

  /** Reconciles `targets` once the stream has passed `at` (the WAL position when the run started). */
  reconcileAt(targets: readonly TableTarget[], at: Lsn): void {
    this.pendingReconcile = { targets, at }
  }

  /** Runs the pending reconcile when the stream has caught up; true when it ran. */
  async reconcileIfCaughtUp(drained: Lsn, checkpoint: Lsn): Promise<boolean> {
    const pending = this.pendingReconcile
    if (pending === undefined || (drained < pending.at && checkpoint < pending.at)) return false
    this.pendingReconcile = undefined
    await this.reconcile(pending.targets, checkpoint)
    return true
  }

  async reconcile(targets: readonly TableTarget[], checkpoint: Lsn): Promise<void> {
    for (const base of targets) {
      if (base.partitionColumn !== true) continue
      const held = await this.options.destination.partitions(base)
      for (const leaf of base.table.heaps) if (!held.has(leaf.oid) && (await this.hasRows(leaf))) this.options.copies.startPartition(base, leaf, `Partition ${leaf.schema}.${leaf.name} of ${base.display} has rows the destination lacks.`)
      for (const oid of held) if (!base.table.heaps.some((h) => h.oid === oid)) this.left(base, oid, checkpoint)
    }
  }

  /** A leaf new under `base` (found here, or met in the stream). */
  async arrived(base: TableTarget, leaf: HeapRelation): Promise<void> {
    const { router, copies, log, config } = this.options
    router.index(leaf.oid, base, leaf.schema, leaf.name)
    if (!(await this.hasRows(leaf))) return log.info('partition.new', `${leaf.schema}.${leaf.name} is a new partition of ${base.display}.`, { table: base.display })
    if (base.partitionColumn === true) return copies.startPartition(base, leaf, `${leaf.schema}.${leaf.name} was attached to ${base.display} with rows.`)
    const why = `${leaf.schema}.${leaf.name} was attached to ${base.display} with rows, which publish_via_partition_root = true does not send.`
    if (autoRefreshes(config, base)) copies.start(base, why)
    else log.warn('partition.attach', `${why} Copy the table again: inlet refresh ${base.display} (or turn publish_via_partition_root off).`, { table: base.display })
  }

  private left(base: TableTarget, oid: number, lsn: Lsn): void {
    const { router, copies, pending, batcher, log, config } = this.options
    router.unroute(oid)
    copies.cancelPartition(oid)
    if (base.partitionColumn === true) {
      const commit = { lsn: lsn.toString(), ts: microsToTimestamp(Date.now() * 1000) }
      const copy = copies.of(base)
      // (A copy of the whole table in flight may hold the partition's rows: they go there too.)
      if (copy !== undefined) copy.add({ kind: 'truncate', partition: oid }, lsn, commit)
      else pending.of(base).partitionGone(commit, oid)
      batcher.changes++
      return log.info('partition.gone', `A partition (OID ${oid}) left ${base.display} (detached or dropped): its rows leave ${base.destSchema}.${base.destName}.`, { table: base.display })
    }
    const why = `A partition (OID ${oid}) left ${base.display}; with publish_via_partition_root = true its rows cannot be told apart.`
    if (autoRefreshes(config, base)) copies.start(base, why)
    else log.warn('partition.detach', `${why} Copy the table again: inlet refresh ${base.display} (or turn publish_via_partition_root off).`, { table: base.display })
  }

  /** The table's leaf partitions now; undefined when the table is gone. */
  private async leavesOf(base: TableTarget): Promise<HeapRelation[] | undefined> {
    const { rows } = await this.options.client.query<{ oid: string; schema: string; name: string; exists: boolean }>(
      `SELECT c.oid::int8::text AS oid, n.nspname::text AS schema, c.relname::text AS name, true AS exists
         FROM pg_partition_tree($1::oid) t JOIN pg_class c ON c.oid = t.relid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE t.isleaf AND c.relkind = 'r'`,
      [base.table.oid],
    )
    if (rows.length === 0) {
      const { rows: exists } = await this.options.client.query('SELECT 1 FROM pg_class WHERE oid = $1::oid', [base.table.oid])
      if (exists.length === 0) return undefined
    }
    return rows.map((r) => ({ oid: Number(r.oid), schema: r.schema, name: r.name, pages: 0, estimatedRows: 0 }))
  }

  private async hasRows(leaf: HeapRelation): Promise<boolean> {
    const { rows } = await this.options.client.query(`SELECT 1 FROM ONLY ${quoteIdent(leaf.schema)}.${quoteIdent(leaf.name)} LIMIT 1`).catch(() => ({ rows: [] }))
    return rows.length > 0
  }
}

