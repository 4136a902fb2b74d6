/**
 * Relations the plan does not know, met in the stream or in the publication: a new partition of a
 * planned table (its changes land in that table), or a table created or newly published that the
 * selection takes, which is copied beside the stream (its rows until the copy's snapshot are in
 * the copy, later changes are held for it).
 */
import type { ResolvedSource } from '../../config/load.js'
import type { Destination } from '../../destination/destination.js'
import type { TableTarget } from '../../model/table-binding.js'
import type { SqlClient } from '../../postgres/connect.js'
import type { Logger } from '../../observability/log.js'
import type { SourceMonitor } from '../../observability/run-monitor.js'
import { reportSkipped } from '../skipped-tables.js'
import { planSource } from '../source-plan.js'
import type { Committer } from './committer.js'
import type { CopiesInFlight } from './copies.js'
import type { PartitionWatch } from './partition-watch.js'
import type { TableRouter } from './table-router.js'

export interface NewTablesOptions {
  readonly client: SqlClient
  readonly source: ResolvedSource
  readonly defaultScd: 1 | 2
  readonly destination: Destination
  readonly router: TableRouter
  readonly copies: CopiesInFlight
  readonly committer: Committer
  readonly partitions: PartitionWatch
  readonly live: SourceMonitor
  readonly log: Logger
}

export class NewTables {
  constructor(private readonly options: NewTablesOptions) {}

  /**
   * Whether a new table may land where it would: another table streaming into that destination
   * was dropped (without the DDL tracking script nothing said so): the new one takes over; one
   * that still exists (renamed, say) keeps it, and the new one is skipped with the way out.
   */
  private async destinationFree(found: TableTarget): Promise<boolean> {
    const { router, destination, client, copies } = this.options
    const holder = router.targets.find((t) => !router.isDropped(t) && destination.nameKey(t.destSchema, t.destName) === destination.nameKey(found.destSchema, found.destName))
    if (holder === undefined) return true
    const { rows } = await client.query('SELECT 1 FROM pg_class WHERE oid = $1::oid', [holder.table.oid])
    if (rows.length === 0) {
      router.drop(holder)
      copies.cancel(holder)
      return true
    }
    reportSkipped([{ oid: found.table.oid, schema: found.table.schema, name: found.table.name, display: found.display, reason: `it would land in ${found.destSchema}.${found.destName}, where ${holder.display} (renamed from that name) streams`, fix: `Map it elsewhere with as: in inlet.yaml, e.g. - table: ${found.display}\n    as: ${found.destSchema}.${found.destName}_2` }], this.options.live, this.options.log)
    return false
  }

  /** Looks the relation up in the catalog (once): a partition of a planned table, a new table, or outside the selection. */
  async adopt(oid: number, schema: string, name: string): Promise<void> {
    const { client, source, destination, router, copies, committer } = this.options
    if (!router.unknown(oid)) return
    const fresh = await planSource(client, source, this.options.defaultScd, destination)
    const found = fresh.targets.find((t) => t.table.oid === oid || t.table.heaps.some((h) => h.oid === oid))
    const skipped = fresh.skipped.find((t) => t.oid === oid)
    if (skipped !== undefined) reportSkipped([skipped], this.options.live, this.options.log)
    if (found === undefined) return router.leaveOut(oid)
    const parent = router.find(found.table.oid)
    if (parent !== undefined) {
      // A new leaf partition: attached with rows, it is copied (see PartitionWatch).
      const leaf = found.table.heaps.find((h) => h.oid === oid)
      return leaf === undefined ? router.index(oid, parent, schema, name) : this.options.partitions.arrived(parent, leaf)
    }
    if (!(await this.destinationFree(found))) return router.leaveOut(oid)
    // (In the chain: the destination's connection is the batches'.)
    await committer.enqueue(() => destination.assertOwnable(found))
    router.add(found, 0n)
    copies.start(found, `${found.display} appeared in the stream (created or published).`, 'table.new')
  }
}
