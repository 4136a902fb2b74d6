/**
 * Tables being copied again while the others stream (a refresh, a change that needs a new copy, a
 * table new in the stream): each is a BackgroundCopy that takes the table's changes from the
 * stream until it is loaded and swapped in by a batch. Requests for a refresh arrive here too:
 * through the run's local API, or as a logical decoding message (`inlet refresh` without the API).
 */
import type { ResolvedSource } from '../../config/load.js'
import type { Destination } from '../../destination/destination.js'
import type { Logger } from '../../observability/log.js'
import type { SourceMonitor } from '../../observability/run-monitor.js'
import type { Lsn } from '../../protocol/lsn.js'
import type { TableTarget } from '../../model/table-binding.js'
import { BackgroundCopy } from '../background-copy.js'
import type { Committer, ReadySwap } from './committer.js'
import type { PendingChanges } from './pending-changes.js'
import type { TableRouter } from './table-router.js'

/** Prefix of the logical decoding message by which `inlet refresh` reaches a running `inlet run`. */
export const REFRESH_MESSAGE_PREFIX = 'inlet.refresh'

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
  /** Copies taken for a swap, until the batch that swaps them in has committed. */
  private readonly swapping = new Map<TableTarget, Promise<void>>()
  private failed: { error: unknown } | undefined

  constructor(private readonly options: CopiesOptions) {}

  get failure(): { error: unknown } | undefined {
    return this.failed
  }

  get size(): number {
    return this.copies.size
  }

  get anyLoaded(): boolean {
    return [...this.copies.values()].some((c) => c.loaded)
  }

  of(base: TableTarget): BackgroundCopy | undefined {
    return this.copies.get(base)
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

  /** Abandons the copy of a table (dropped in the source while copied). */
  cancel(base: TableTarget): void {
    this.copies.get(base)?.cancel()
    this.copies.delete(base)
  }

  /** Restarts stale copies; forgets those whose table left the source or the selection. */
  check(): void {
    const { source, destination, log, committer } = this.options
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
    return [...this.copies.values()]
      .filter((copy) => copy.loaded && !copy.stale)
      .map((copy) => {
        this.copies.delete(copy.base)
        // The table's changes still pending for the old table are in the copy (they precede C).
        pending.of(copy.base).drain()
        const final = copy.final as TableTarget
        pending.of(copy.base).target = final
        router.setSnapshotLsn(copy.base, copy.snapshotLsn as Lsn)
        const held = copy.takeChanges()
        return { base: copy.base, copy: copy.into, final, snapshotLsn: copy.snapshotLsn as Lsn, rows: copy.rows, staged: held.staged, segments: held.segments }
      })
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
      Object.assign(this.options.live.table(s.base.display, `${s.base.destSchema}.${s.base.destName}`), { phase: 'streaming', copy: undefined })
      this.options.log.info('refresh.done', `Copied ${s.base.display} beside the stream: ${s.rows} rows, then the changes since; it streams on.`, { table: s.base.display, rows: s.rows })
    }
  }

  /** `inlet refresh` while this run holds the destination, through the WAL (a logical decoding message). */
  onMessage(content: Buffer): void {
    let request: { slot?: unknown; refresh?: unknown } | undefined
    try {
      request = JSON.parse(content.toString('utf8')) as { slot?: unknown; refresh?: unknown }
    } catch {
      request = undefined
    }
    // Every slot of the database sees the message: it is for the run reading this one.
    if (request?.slot !== this.options.source.slot && request !== undefined) return
    const names = request?.refresh
    if (!Array.isArray(names)) return this.options.log.warn('refresh.message', `Ignored a malformed ${REFRESH_MESSAGE_PREFIX} message.`)
    for (const name of names) this.request(name)
  }

  /** A refresh asked for by `[schema, table]`. */
  request(name: unknown): void {
    const base = Array.isArray(name) && name.length === 2 ? this.options.router.byTableName(String(name[0]), String(name[1])) : undefined
    if (base === undefined) this.options.log.warn('refresh.message', `Ignored a refresh request for ${JSON.stringify(name)}: not a table this run streams.`)
    else this.start(base, `Refresh of ${base.display} requested.`)
  }

  /** Stops every copy (their tables stay marked for the next run) and waits for them to let go. */
  async cancelAll(): Promise<void> {
    for (const copy of this.copies.values()) copy.cancel()
    await Promise.all([...this.copies.values()].map((c) => c.done.catch(() => undefined)))
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
