/**
 * Relations the plan does not know, met in the stream or in the publication: a new partition of a
 * planned table (its changes land in that table), or a table created or newly published that the
 * selection takes, which is copied beside the stream (its rows until the copy's snapshot are in
 * the copy, later changes are held for it).
 */
import type { ResolvedSource } from '../../config/load.js'
import type { Destination } from '../../destination/destination.js'
import type { SqlClient } from '../../postgres/connect.js'
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
}

export class NewTables {
  constructor(private readonly options: NewTablesOptions) {}

  /** Looks the relation up in the catalog (once): a partition of a planned table, a new table, or outside the selection. */
  async adopt(oid: number, schema: string, name: string): Promise<void> {
    const { client, source, destination, router, copies, committer } = this.options
    if (!router.unknown(oid)) return
    const fresh = await planSource(client, source, this.options.defaultScd, destination.types)
    const found = fresh.targets.find((t) => t.table.oid === oid || t.table.heaps.some((h) => h.oid === oid))
    if (found === undefined) return router.leaveOut(oid)
    const parent = router.find(found.table.oid)
    if (parent !== undefined) {
      // A new leaf partition: attached with rows, it is copied (see PartitionWatch).
      const leaf = found.table.heaps.find((h) => h.oid === oid)
      return leaf === undefined ? router.index(oid, parent, schema, name) : this.options.partitions.arrived(parent, leaf)
    }
    // (In the chain: the destination's connection is the batches'.)
    await committer.enqueue(() => destination.assertOwnable(found))
    router.add(found, 0n)
    copies.start(found, `${found.display} appeared in the stream (created or published).`, 'table.new')
  }
}
