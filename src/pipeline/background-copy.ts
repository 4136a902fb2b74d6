/**
 * A table copied again while the stream goes on (the idea of Netflix's DBLog, on PostgreSQL's own
 * mechanism): a temporary slot exports a snapshot at its consistent point C; the copy loads beside
 * the table from that snapshot while every other table keeps streaming. The stream hands this
 * table's changes here instead of applying them: those committed before C are in the copy and
 * dropped, later ones are held (coalesced like any batch) and applied to the copy in the batch
 * that swaps it in. The old table stays readable, frozen, until that batch commits.
 *
 * Until the swap commits, the table's state asks for a refresh, so a crash or a stop leaves the
 * next run to copy it again: the held changes need not be durable, and the checkpoint may pass
 * them.
 */
import type { ResolvedSource } from '../config/load.js'
import type { Destination, StagedChanges } from '../destination/destination.js'
import type { HeapRelation } from '../model/source-table.js'
import type { TableTarget } from '../model/table-binding.js'
import type { Logger } from '../observability/log.js'
import { connect, type SqlClient } from '../postgres/connect.js'
import { quoteLiteral } from '../postgres/sql-text.js'
import { formatLsn, type Lsn } from '../protocol/lsn.js'
import { runSnapshot } from '../source/snapshot/snapshot-reader.js'
import { ReplicationConnection, type CreatedSlot } from '../source/stream/replication-connection.js'
import type { Relation } from '../source/stream/stream-events.js'
import { addRowChange, bindRelation, type Binding, type RowEvent } from './row-binding.js'
import { columnsDiffer, keyChanged, relationColumns } from './schema-change.js'
import { droppedMeanwhile, planOnce, type SourcePlan } from './source-plan.js'
import { workDirectory } from './work-directory.js'
import { TableChanges } from './table-changes.js'
import type { ChangeCommit, Segment } from '../model/change-set.js'

let slotSerial = 0

/** A name for a temporary copy slot, unique in this process and unlikely to clash across processes. */
export function temporarySlotName(): string {
  return `inlet_copy_${process.pid}_${++slotSerial}_${Date.now() % 1_000_000}`
}

export interface BackgroundCopyOptions {
  /** The planned table (its source identity and destination name). */
  readonly base: TableTarget
  /** The commit LSN of the last transaction the stream had read when the copy began: it and all before are in the copy. */
  readonly begunAfter: Lsn
  readonly source: ResolvedSource
  readonly defaultScd: 1 | 2
  readonly destination: Destination
  readonly workers: number
  /** Held changes past this many bytes go to the destination's scratch (a long copy under many writes). */
  readonly holdBytes?: number | undefined
  readonly log: Logger
  /** A copy of the same table this one replaces: it must have let go of the table beside first. */
  readonly previous?: Promise<void> | undefined
  /** Rows and bytes copied so far, against the planner's estimate (for status and metrics). */
  readonly onProgress?: (progress: { rowsCopied: number; bytesCopied: number; estimatedRows: number; startedAt: number }) => void
  /**
   * Copy this leaf partition only (attached while streaming, or found missing at start): its rows
   * replace the partition's in the table, which stays as it is otherwise.
   */
  readonly partition?: HeapRelation | undefined
  /** Test hook: the copy is loaded (into `copy`), the table not yet replaced. */
  readonly onLoaded?: ((table: TableTarget, copy: TableTarget) => Promise<void>) | undefined
}

/** A TRUNCATE of the table, or of one leaf partition. */
export interface TruncateEvent {
  readonly kind: 'truncate'
  readonly partition: number | undefined
}

type Held = { readonly lsn: Lsn } & ({ readonly commit: ChangeCommit; readonly event: RowEvent | TruncateEvent } | { readonly relation: Relation })

export class BackgroundCopy {
  readonly base: TableTarget
  /** The consistent point: changes committed before it are in the copy. */
  snapshotLsn: Lsn | undefined
  /** The table as copied (its columns from the catalog under the snapshot), under its own name. */
  final: TableTarget | undefined
  /** The table's changes at or after the snapshot, for the swap (those not staged yet). */
  changes: TableChanges | undefined
  /** Held changes already staged in the destination's scratch, in order. */
  private staging: Promise<StagedChanges[]> = Promise.resolve([])
  /** Loaded and counted: the next batch swaps it in. */
  loaded = false
  /** A change after the snapshot has columns or a key the copy lacks (DDL): the copy must start again. */
  stale = false
  /** The table is no longer in the source's publication or the selection: nothing to copy. */
  gone = false
  rows = 0
  /** Parts of the held changes staged so far (for the log). */
  private staged = 0
  /** Settles when the copy is loaded, failed or cancelled; rejects only on failure. */
  readonly done: Promise<void>
  private held: Held[] = []
  private bindings = new Map<Relation, Binding>()
  private readonly abort = new AbortController()

  constructor(private readonly options: BackgroundCopyOptions) {
    this.base = options.base
    this.done = this.run()
  }

  /** The copy's destination table, beside the table it replaces (or a partition's copy, beside it too). */
  get into(): TableTarget {
    return this.options.destination.copyBeside(this.final ?? this.base, this.options.partition?.oid)
  }

  /** The leaf partition copied on its own, if that is what this copy is. */
  get partition(): HeapRelation | undefined {
    return this.options.partition
  }

  get cancelled(): boolean {
    return this.abort.signal.aborted
  }

  /** Abandons the copy (its table is copied again by a later copy or run). */
  cancel(): void {
    this.abort.abort(new Error('copy cancelled'))
    void this.staging.then((staged) => this.options.destination.discard(staged)).catch(() => undefined)
  }

  /** Takes a change of the table, committed in the transaction at `lsn`. */
  add(event: RowEvent | TruncateEvent, lsn: Lsn, commit: ChangeCommit): void {
    if (this.snapshotLsn === undefined || this.changes === undefined) {
      this.held.push({ lsn, commit, event })
      return
    }
    if (lsn < this.snapshotLsn || this.stale) return
    if (event.kind === 'truncate') this.changes.truncate(commit, event.partition)
    else {
      const binding = this.bind(event.relation)
      if (binding === undefined) this.stale = true
      else addRowChange(this.changes, binding, event, commit)
    }
    if (this.changes.bytes > (this.options.holdBytes ?? Number.POSITIVE_INFINITY)) this.stageHeld()
  }

  /** The held changes: those staged (in order), then the rest, for the batch that swaps the copy in. */
  takeChanges(): { staged: Promise<StagedChanges[]>; segments: Segment[] } {
    return { staged: this.staging, segments: this.changes?.drain() ?? [] }
  }

  /** Held changes go to the destination's scratch, so that memory does not grow with the copy's length. */
  private stageHeld(): void {
    const changes = this.changes as TableChanges
    const bytes = changes.bytes
    const segments = changes.drain()
    const target = this.final as TableTarget
    this.staged++
    this.options.log.info('refresh.hold', `Held changes of ${this.base.display} (${bytes} bytes) staged in the destination's scratch while the copy runs (part ${this.staged}).`, { table: this.base.display, bytes, part: this.staged })
    this.staging = this.staging.then(async (staged) => [...staged, await this.options.destination.stage(target, segments)])
  }

  /** Whether a DDL in the transaction at `lsn` may be missing from the copy. */
  mayMiss(lsn: Lsn): boolean {
    return this.snapshotLsn === undefined ? lsn > this.options.begunAfter : lsn >= this.snapshotLsn
  }

  /** A Relation message of the table, in the transaction at `lsn`: new columns after C make the copy stale. */
  relation(relation: Relation, lsn: Lsn): void {
    if (this.final === undefined || this.snapshotLsn === undefined) this.held.push({ lsn, relation })
    else if (lsn >= this.snapshotLsn && (columnsDiffer(this.final, relationColumns(relation)) || keyChanged(this.final, relation) !== undefined)) this.stale = true
  }

  private bind(relation: Relation): Binding | undefined {
    const final = this.final as TableTarget
    let b = this.bindings.get(relation)
    if (b === undefined) {
      if (columnsDiffer(final, relationColumns(relation))) return undefined
      this.bindings.set(relation, (b = bindRelation(final, relation)))
    }
    return b
  }

  private async run(): Promise<void> {
    const { base, source, destination } = this.options
    const signal = this.abort.signal
    const session: CopySession = { replication: undefined, client: undefined, loader: undefined }
    const release = async () => {
      await session.replication?.close()
      session.replication = undefined
    }
    // Cancelling ends the connections, which interrupts a slot creation waiting on transactions.
    const onAbort = () => {
      void release()
      void session.client?.end().catch(() => undefined)
    }
    signal.addEventListener('abort', onAbort)
    try {
      await this.options.previous?.catch(() => undefined)
      this.check()
      const prepared = await this.prepare(session)
      if (prepared === undefined) return
      session.loader = await destination.openWriter()
      const into = this.into
      await session.loader.createTable(into)
      this.check()
      const loader = session.loader
      const scope = this.options.partition
      await runSnapshot({
        settings: source.connection,
        snapshotName: prepared.snapshotName,
        serverVersionNum: prepared.serverVersionNum,
        // A leaf partition copied on its own: that heap only.
        targets: [scope === undefined ? into : { ...into, table: { ...into.table, heaps: [scope] } }],
        workers: this.options.workers,
        spoolDirectory: workDirectory(destination.localPath, 'copy', source.name, process.pid, scope?.oid ?? base.table.oid),
        signal,
        onProgress: (progress) => {
          const p = progress[0]
          if (p !== undefined) this.options.onProgress?.({ rowsCopied: p.rowsCopied, bytesCopied: p.bytesCopied, estimatedRows: p.estimatedRows, startedAt: p.startedAt })
        },
        onImported: release,
        loader: {
          load: (target, files) => loader.loadSnapshotFiles(target, files, prepared.snapshotLsn, prepared.snapshotTime),
          tableDone: async (_target, rows) => {
            this.rows = rows
          },
        },
      })
      await this.options.onLoaded?.(base, into)
      this.check()
      this.loaded = true
    } catch (error) {
      if (signal.aborted) return
      throw error
    } finally {
      signal.removeEventListener('abort', onAbort)
      await release()
      await session.client?.end().catch(() => undefined)
      // A copy that will not be swapped in leaves nothing beside the table, nor held changes.
      if (!this.loaded) {
        await session.loader?.dropTable(this.into).catch(() => undefined)
        await destination.discard(await this.staging.catch(() => [])).catch(() => undefined)
      }
      await session.loader?.close()
    }
  }

  private check(): void {
    if (this.abort.signal.aborted) throw this.abort.signal.reason
  }

  /**
   * Creates the temporary slot whose snapshot the copy is taken under and plans the table as of
   * that snapshot (DDL after it reaches the stream after C); releases the changes held until C was
   * known. Undefined when there is nothing to copy (gone) or the copy is already stale.
   */
  private async prepare(session: CopySession): Promise<{ snapshotName: string; snapshotLsn: Lsn; snapshotTime: string; serverVersionNum: number } | undefined> {
    const { base, source, log } = this.options
    session.client = await connect(source.connection, { pinValueSettings: true })
    this.check()
    let attempt = 1
    let snapshot = await this.snapshotAndPlan(session, session.client)
    // A table (any of the publication's) dropped after the snapshot cannot be opened in it: a new
    // slot's snapshot no longer lists it.
    while (!('plan' in snapshot)) {
      if (attempt++ >= 5 || !droppedMeanwhile(snapshot.error)) throw snapshot.error
      this.check()
      snapshot = await this.snapshotAndPlan(session, session.client)
    }
    const { created, plan, snapshotTime } = snapshot
    const fresh = plan.targets.find((t) => t.table.oid === base.table.oid)
    const scope = this.options.partition
    if (fresh === undefined || (scope !== undefined && !fresh.table.heaps.some((h) => h.oid === scope.oid))) {
      this.gone = true
      return undefined
    }
    this.final = { ...fresh, destSchema: base.destSchema, destName: base.destName }
    this.changes = new TableChanges(this.final)
    this.snapshotLsn = created.consistentPoint
    const held = this.held
    this.held = []
    for (const h of held) {
      if ('relation' in h) this.relation(h.relation, h.lsn)
      else this.add(h.event, h.lsn, h.commit)
    }
    if (this.stale) return undefined
    const what = scope === undefined ? base.display : `partition ${scope.schema}.${scope.name} of ${base.display}`
    log.info('refresh.start', `Copying ${what} at ${formatLsn(created.consistentPoint)} while the other tables stream.`, { table: base.display, lsn: formatLsn(created.consistentPoint) })
    return { snapshotName: created.snapshotName as string, snapshotLsn: created.consistentPoint, snapshotTime, serverVersionNum: plan.serverVersionNum }
  }

  /** A new temporary slot exporting its snapshot, and the plan read under it; or the planning's error (slot released). */
  private async snapshotAndPlan(session: CopySession, client: SqlClient): Promise<{ created: CreatedSlot; plan: SourcePlan; snapshotTime: string } | { error: unknown }> {
    const { source, destination } = this.options
    session.replication = await ReplicationConnection.open(source.connection)
    this.check()
    const clock = await client.query<{ now: string }>('SELECT clock_timestamp()::text AS now')
    const snapshotTime = clock.rows[0]?.now as string
    const created = await session.replication.createSlot(temporarySlotName(), { snapshot: 'export', temporary: true })
    this.check()
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY')
    await client.query(`SET TRANSACTION SNAPSHOT ${quoteLiteral(created.snapshotName as string)}`)
    try {
      const plan = await planOnce(client, source, this.options.defaultScd, destination)
      await client.query('COMMIT')
      return { created, plan, snapshotTime }
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined) // (the planning's error is the one to report)
      await session.replication.close()
      session.replication = undefined
      return { error }
    }
  }
}

/** The connections a copy holds while it runs. */
interface CopySession {
  replication: ReplicationConnection | undefined
  client: SqlClient | undefined
  loader: Destination | undefined
}
