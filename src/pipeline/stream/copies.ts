/**
 * Tables being copied again while the others stream (a refresh, a change that needs a new copy, a
 * table new in the stream): each is a BackgroundCopy that takes the table's changes from the
 * stream until it is loaded and swapped in by a batch. Requests for a refresh arrive here too:
 * through the run's local API, or as a logical decoding message (`inlet refresh` without the API).
 */
import type { ResolvedConfig, ResolvedSource } from '../../config/load.js'
import type { Destination } from '../../destination/destination.js'
import type { Logger } from '../../observability/log.js'
import type { SourceMonitor } from '../../observability/run-monitor.js'
import type { Lsn } from '../../protocol/lsn.js'
import type { HeapRelation } from '../../model/source-table.js'
import type { TableTarget } from '../../model/table-binding.js'
import { columnsDiffer } from '../schema-change.js'
import { BackgroundCopy } from '../background-copy.js'
import type { Committer, ReadySwap } from './committer.js'
import type { PendingChanges } from './pending-changes.js'
import type { TableRouter } from './table-router.js'

/** Prefix of logical decoding messages that earlier versions obeyed as refresh requests (now ignored, see ignoreMessage). */
export const REFRESH_MESSAGE_PREFIX = 'inlet.refresh'

/** Whether a table that needs a new copy gets one by itself (`auto_refresh`), rather than stopping the run. */
export function autoRefreshes(config: ResolvedConfig, t: TableTarget): boolean {
  return config.autoRefresh === 'all' || (config.autoRefresh === 'scd1' && t.scd === 1)
}

/** Test hook: a copy is loaded beside its table, not yet swapped in; `query` reads the destination. */
export type RefreshLoadedHook = (query: <T>(sql: string) => Promise<T[]>, table: string, copy: string) => Promise<void>

export interface CopiesOptions {
  readonly source: ResolvedSource
  readonly defaultScd: 1 | 2
  readonly destination: Destination
  readonly workers: number
  readonly log: Logger
  readonly live: SourceMonitor
  readonly committer: Committer
  readonly router: TableRouter
  readonly pending: PendingChanges
  /** The commit LSN of the last transaction the stream has begun: it and all before are in a copy begun now. */
  readonly lastBegun: () => Lsn
  readonly onRefreshLoaded?: RefreshLoadedHook | undefined
  /** Changes held for a copy past this many bytes are staged in the destination's scratch. */
  readonly holdBytes: number
}

export class CopiesInFlight {
  private readonly copies = new Map<TableTarget, BackgroundCopy>()
  /** Leaf partitions copied on their own, by OID. */
  private readonly partitions = new Map<number, BackgroundCopy>()
  /** Copies taken for a swap, until the batch that swaps them in has committed. */
  private readonly swapping = new Map<TableTarget, Promise<void>>()
  private failed: { error: unknown } | undefined

  constructor(private readonly options: CopiesOptions) {}

  get failure(): { error: unknown } | undefined {
    return this.failed
  }

  get size(): number {
    return this.copies.size + this.partitions.size
  }

  get anyLoaded(): boolean {
    return this.all().some((c) => c.loaded)
  }

  /** The copy that takes the changes of `base` (of its leaf `relation`, when that is copied on its own). */
  of(base: TableTarget, relation?: number): BackgroundCopy | undefined {
    return this.copies.get(base) ?? (relation === undefined ? undefined : this.partitions.get(relation))
  }

  private all(): BackgroundCopy[] {
    return [...this.copies.values(), ...this.partitions.values()]
  }

  /**
   * Copies one leaf partition of `base` beside the stream (attached with rows while streaming, or
   * missing from the destination at start); its rows replace the partition's when loaded.
   */
  startPartition(base: TableTarget, leaf: HeapRelation, why: string): void {
    const { source, destination, log, live } = this.options
    if (this.copies.has(base)) return // the whole table's copy holds it
    const previous = this.partitions.get(leaf.oid)
    previous?.cancel()
    const copy = new BackgroundCopy({
      base,
      partition: leaf,
      previous: previous?.done ?? this.swapping.get(base),
      begunAfter: this.options.lastBegun(),
      source,
      defaultScd: this.options.defaultScd,
      destination,
      workers: this.options.workers,
      log,
      holdBytes: this.options.holdBytes,
      onProgress: (p) => (live.table(base.display, `${base.destSchema}.${base.destName}`).copy = p),
    })
    this.partitions.set(leaf.oid, copy)
    copy.done.catch((error: unknown) => {
      if (this.partitions.get(leaf.oid) === copy) this.failed ??= { error }
    })
    log.info('partition.copy', `${why} Copying partition ${leaf.schema}.${leaf.name} of ${base.display} while the tables stream.`, { table: base.display, partition: `${leaf.schema}.${leaf.name}` })
  }

  /** A leaf partition left its table: a copy of it stops. */
  cancelPartition(oid: number): void {
    this.partitions.get(oid)?.cancel()
    this.partitions.delete(oid)
  }

  /** Copies `base` again (a copy of it already running starts over). */
  start(base: TableTarget, why: string, event = 'refresh.begin'): void {
    const { source, destination, log, live, committer } = this.options
    const previous = this.copies.get(base)
    previous?.cancel()
    const copy = new BackgroundCopy({
      base,
      previous: previous?.done ?? this.swapping.get(base),
      begunAfter: this.options.lastBegun(),
      source,
      defaultScd: this.options.defaultScd,
      destination,
      workers: this.options.workers,
      log,
      holdBytes: this.options.holdBytes,
      onLoaded: this.loadedHook(),
      onProgress: (p) => (live.table(base.display, `${base.destSchema}.${base.destName}`).copy = p),
    })
    this.copies.set(base, copy)
    live.table(base.display, `${base.destSchema}.${base.destName}`).phase = 'refreshing'
    copy.done.catch((error: unknown) => {
      if (this.copies.get(base) === copy) this.failed ??= { error }
    })
    // Durable before any checkpoint past this point: a crash leaves the next run to copy it.
    void committer.enqueue(async () => void (await destination.markRefresh(source.name, base.table.schema, base.table.name)))
    if (event === 'table.new') log.info(event, `${why} Copying it while the other tables stream.`, { table: base.display })
    else log.warn(event, `${why} Copying ${base.display} again while the other tables stream.`, { table: base.display })
  }

  /** Abandons the copy of a table (dropped in the source while copied), and of its partitions. */
  cancel(base: TableTarget): void {
    this.copies.get(base)?.cancel()
    this.copies.delete(base)
    for (const [oid, copy] of this.partitions) if (copy.base === base) this.cancelPartition(oid)
  }

  /** Restarts stale copies; forgets those whose table left the source or the selection. */
  check(): void {
    const { source, destination, log, committer, pending } = this.options
    for (const [oid, copy] of this.partitions) {
      // The table changed under the partition's copy: it must have the table's columns now.
      const current = pending.binding(copy.base)
      const stale = copy.stale || (copy.final !== undefined && (columnsDiffer(current, copy.final.columns.map((c) => ({ name: c.name, typeOid: c.source.typeOid, typeModifier: c.source.typeModifier ?? -1 }))) || current.key.join() !== copy.final.key.join()))
      if (copy.gone) this.partitions.delete(oid)
      else if (stale) this.startPartition(copy.base, copy.partition as HeapRelation, `${copy.base.display} changed shape after the copy of a partition began.`)
    }
    for (const copy of this.copies.values()) {
      if (copy.stale) this.start(copy.base, `${copy.base.display} changed shape after its copy began.`)
      else if (copy.gone) {
        this.copies.delete(copy.base)
        void committer.enqueue(async () => void (await destination.markRefresh(source.name, copy.base.table.schema, copy.base.table.name, false)))
        log.warn('refresh.skip', `${copy.base.display} is no longer in the source's publication or the selection; not copied.`, { table: copy.base.display })
      }
    }
  }

  /** Loaded copies leave the stream's hands: their held changes go with the swap, later ones to the new table. */
  takeLoaded(): ReadySwap[] {
    const { pending, router } = this.options
    const partitions = [...this.partitions.entries()]
      .filter(([, copy]) => copy.loaded && !copy.stale)
      .map(([oid, copy]): ReadySwap => {
        this.partitions.delete(oid)
        // The partition's changes from the copy's snapshot on are held; later ones go to the table.
        router.setPartitionLsn(oid, copy.snapshotLsn as Lsn)
        const held = copy.takeChanges()
        return { base: copy.base, copy: copy.into, final: pending.binding(copy.base), snapshotLsn: copy.snapshotLsn as Lsn, rows: copy.rows, staged: held.staged, segments: held.segments, partition: oid }
      })
    const tables = [...this.copies.values()]
      .filter((copy) => copy.loaded && !copy.stale)
      .map((copy): ReadySwap => {
        this.copies.delete(copy.base)
        // The table's changes still pending for the old table are in the copy (they precede C).
        pending.of(copy.base).drain()
        const final = copy.final as TableTarget
        pending.of(copy.base).target = final
        router.setSnapshotLsn(copy.base, copy.snapshotLsn as Lsn)
        const held = copy.takeChanges()
        return { base: copy.base, copy: copy.into, final, snapshotLsn: copy.snapshotLsn as Lsn, rows: copy.rows, staged: held.staged, segments: held.segments }
      })
    return [...tables, ...partitions]
  }

  /** The batch swapping these copies in is committing: a new copy of the same table waits for it. */
  swapsCommitting(swaps: readonly ReadySwap[], committing: Promise<void>): void {
    for (const s of swaps) {
      const done = committing.catch(() => undefined)
      this.swapping.set(s.base, done)
      void done.then(() => this.swapping.get(s.base) === done && this.swapping.delete(s.base))
    }
  }

  /** The swaps committed: those tables stream on. */
  swapped(swaps: readonly ReadySwap[]): void {
    for (const s of swaps) {
      if (s.partition !== undefined) {
        this.options.log.info('partition.done', `Copied a partition of ${s.base.display} beside the stream: ${s.rows} rows, then the changes since.`, { table: s.base.display, rows: s.rows })
        continue
      }
      Object.assign(this.options.live.table(s.base.display, `${s.base.destSchema}.${s.base.destName}`), { phase: 'streaming', copy: undefined })
      this.options.log.info('refresh.done', `Copied ${s.base.display} beside the stream: ${s.rows} rows, then the changes since; it streams on.`, { table: s.base.display, rows: s.rows })
    }
  }

  /**
   * A logical decoding message with the prefix an earlier Inlet used to pass refresh requests
   * through the WAL. Any role that can log in to the source can write one, so none is obeyed: a
   * refresh (which replaces SCD2 history and costs a full copy) is asked only on the run's local
   * socket, by whoever can reach the destination's machine.
   */
  ignoreMessage(): void {
    this.options.log.warn('refresh.message', `Ignored a ${REFRESH_MESSAGE_PREFIX} message in the WAL: any role of the source can write one, so refreshes are asked only through the run's local socket (inlet refresh on this machine).`)
  }

  /** A refresh asked for by `[schema, table]`. */
  request(name: unknown): void {
    const base = Array.isArray(name) && name.length === 2 ? this.options.router.byTableName(String(name[0]), String(name[1])) : undefined
    if (base === undefined) this.options.log.warn('refresh.message', `Ignored a refresh request for ${JSON.stringify(name)}: not a table this run streams.`)
    else this.start(base, `Refresh of ${base.display} requested.`)
  }

  /** Stops every copy (their tables stay marked for the next run) and waits for them to let go. */
  async cancelAll(): Promise<void> {
    const all = this.all()
    for (const copy of all) copy.cancel()
    await Promise.all(all.map((c) => c.done.catch(() => undefined)))
  }

  private loadedHook(): ((table: TableTarget, copy: TableTarget) => Promise<void>) | undefined {
    const hook = this.options.onRefreshLoaded
    if (hook === undefined) return undefined
    return async (table, copy) => {
      const reader = await this.options.destination.openReader()
      try {
        await hook(async <T>(sql: string) => (await reader.query(sql, 1_000_000)).rows as T[], `${table.destSchema}.${table.destName}`, `${copy.destSchema}.${copy.destName}`)
      } finally {
        await reader.close()
      }
    }
  }
}
