/**
 * The Iceberg destination: tables as Iceberg v2 tables in a warehouse, one location per
 * `schema/table`, either a local directory (`iceberg:file:///PATH`, path-based tables read by
 * ClickHouse's icebergLocal and the Hadoop catalogs of Spark and Flink) or an S3 bucket
 * (`iceberg:s3://BUCKET/PREFIX`), found by name through the JDBC catalog in PostgreSQL.
 *
 * It is built on a local DuckDB mirror of the tables (`PATH/_inlet/mirror.duckdb`, or `mirror=`
 * for S3), which runs the same apply engine as the DuckDB destination: unchanged TOAST values,
 * SCD2 versions, keyless duplicates, partitions and schema changes behave exactly as there. Each
 * commit of the mirror also writes, inside its transaction, one Iceberg snapshot per changed
 * table from the rows that changed (table-sync.ts), and records the new metadata versions as
 * pending; once the mirror has committed they are made current by the catalog (all tables of the
 * batch in one PostgreSQL transaction with the JDBC catalog), and only then is the batch
 * confirmed to the slot. A crash between the two leaves them pending, and the next open finishes
 * them, so the Iceberg tables always end equal to the mirror, and the mirror holds the checkpoint.
 *
 * Left for later (see the README): rebuilding a lost mirror from the Iceberg tables.
 */
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { InletError } from '../../errors/inlet-error.js'
import type { Segment } from '../../model/change-set.js'
import type { SnapshotFile } from '../../model/snapshot-file.js'
import type { LastError, SchemaChangeRecord, SourceState, TablePhase, TableState } from '../../model/state.js'
import type { TableTarget, TargetColumn } from '../../model/table-binding.js'
import type { BatchCommit, Destination, DestinationOptions, QueryReader, StagedChanges } from '../destination.js'
import { destinationTable } from '../duckdb/apply-sql.js'
import type { DuckStaged } from '../duckdb/batch-apply.js'
import type { CommitHooks } from '../duckdb/commit-hooks.js'
import { BESIDE_SUFFIX, DuckDbDestination } from '../duckdb/duckdb-destination.js'
import type { SqlSession } from '../duckdb/sql-session.js'
import { readCheckpointLsn } from '../duckdb/state-store.js'
import type { Catalog } from './catalog.js'
import { CommitJournal, type JournalEntry } from './commit-journal.js'
import { deleteFilesSinceWhole, type CompactedTable } from './maintenance.js'
import { assertWrittenHere, createVersionTables, pendingFiles, publishVersions, recordPending } from './pending-versions.js'
import { openCatalog } from './open-catalog.js'
import { holdsTables } from './path-catalog.js'
import { openWindow, prepareWhole, prepareWindow, type Lake, type PreparedVersion, type StagedRows, type TableRef, type Window } from './table-sync.js'
import { currentSnapshot, snapshotLsn } from './table-metadata.js'
import { icebergTypeName } from './iceberg-schema.js'
import { parseWarehouse, type WarehouseSpec } from './warehouse-url.js'


/** What the writers of one destination share: the catalog, the upload scratch, the journal. */
interface Shared {
  readonly catalog: Catalog
  readonly scratch: string
  readonly journal: CommitJournal
}

interface BatchContext {
  readonly replay: boolean
  readonly windows: Window[]
  readonly whole: TableTarget[]
  readonly renamed: Map<string, Map<string, string>>
}

export class IcebergDestination implements Destination {
  readonly capabilities
  readonly types
  readonly localPath: string

  private readonly lake: Lake
  /** This writer's commits whose files are written and not yet known to be current (commit-journal.ts). */
  private unsettled: JournalEntry[] = []

  private constructor(
    private readonly spec: WarehouseSpec,
    private readonly shared: Shared,
    private readonly mirror: DuckDbDestination,
    /** Whether close() closes the catalog (the first writer's; others share it). */
    private readonly ownsCatalog: boolean,
  ) {
    // Every commit writes files: ten seconds by default, as object storage suits (config: commit_interval_seconds).
    this.capabilities = { ...mirror.capabilities, commitIntervalMs: 10_000, commitMaxChanges: 500_000 }
    this.types = mirror.types
    this.localPath = mirror.localPath
    mirror.hooks = this.hooks()
    this.lake = {
      catalog: shared.catalog,
      scratch: shared.scratch,
      retentionMs: spec.retentionMs,
      journal: (entry) => {
        shared.journal.record(entry)
        this.unsettled.push(entry)
      },
    }
  }

  get url(): string {
    return this.spec.display
  }

  /** Where the mirror of the warehouse `rest` (after `iceberg:`) lives. */
  static mirrorPath(rest: string): string {
    return join(parseWarehouse(rest).mirrorDir, 'mirror.duckdb')
  }

  static async open(rest: string, options: DestinationOptions = {}): Promise<IcebergDestination> {
    const spec = parseWarehouse(rest)
    const readOnly = options.readOnly === true
    const inlet = spec.mirrorDir
    const owned = spec.path ?? inlet
    if (readOnly && !existsSync(join(inlet, 'mirror.duckdb'))) throw new InletError('INLET-D001', `${spec.display} has no mirror of Iceberg tables written by Inlet at ${inlet}.`, { fix: 'Check the destination, or run inlet run with it first.' })
    // DuckDB may write anywhere under the directory: it must be Inlet's alone.
    if (!readOnly && existsSync(owned) && !existsSync(join(inlet, 'mirror.duckdb')) && readdirSync(owned).filter((n) => n !== '_inlet').length > 0) {
      if (spec.path !== undefined && holdsTables(spec.path)) {
        throw new InletError('INLET-D001', `${spec.path} holds Iceberg tables but not the mirror that wrote them (${join(inlet, 'mirror.duckdb')} is missing).`, { fix: `Restore ${inlet} from a backup; or, to copy every table anew (replacing their rows and SCD2 history), move the warehouse away and run again.` })
      }
      throw new InletError('INLET-D001', `${owned} is not empty and holds no Iceberg tables written by Inlet.`, { fix: `Give the Iceberg destination${spec.path === undefined ? "'s mirror (mirror=DIR)" : ''} a directory of its own (new or empty).` })
    }
    if (!readOnly) mkdirSync(inlet, { recursive: true })
    const scratch = join(inlet, 'upload')
    const catalog = await openCatalog(spec, readOnly)
    let mirror: DuckDbDestination
    try {
      mirror = await DuckDbDestination.open(join(inlet, 'mirror.duckdb'), options, [owned])
    } catch (error) {
      await catalog.close()
      throw error
    }
    const destination = new IcebergDestination(spec, { catalog, scratch, journal: new CommitJournal(join(inlet, 'commits')) }, mirror, true)
    if (!readOnly) {
      try {
        // Files on their way to object storage when a run stopped: nothing names them.
        rmSync(scratch, { recursive: true, force: true })
        mkdirSync(scratch, { recursive: true })
        await mirror.atomically(createVersionTables)
        await destination.publishPending(true)
        await destination.settle(destination.shared.journal.all())
      } catch (error) {
        await destination.close().catch(() => undefined)
        throw error
      }
    }
    return destination
  }

  async openWriter(): Promise<Destination> {
    return new IcebergDestination(this.spec, this.shared, await this.mirror.openWriter(), false)
  }

  async close(): Promise<void> {
    try {
      await this.mirror.close()
    } finally {
      if (this.ownsCatalog) {
        await this.shared.catalog.close()
        this.shared.catalog.storage.close()
      }
    }
  }

  // ---- Iceberg commits ------------------------------------------------------------------

  private hooks(): CommitHooks {
    return {
      before: async (sql, batch) => {
        // Files of an attempt that did not commit (a batch applied again after a widening).
        await this.settle(this.unsettled, sql)
        return this.beforeBatch(sql, batch)
      },
      after: (sql, batch, context) => this.afterBatch(sql, batch, context as BatchContext),
      committed: () => this.published(),
    }
  }

  /** After the mirror committed: the versions made current, and the journal of this writer's commits forgotten. */
  private async published(): Promise<void> {
    await this.publishPending()
    for (const e of this.unsettled) this.shared.journal.forget(e.commit)
    this.unsettled = []
  }

  /** Settles journal entries (see commit-journal.ts) against the pending versions and the catalog. */
  private async settle(entries: readonly JournalEntry[], inBatch?: SqlSession): Promise<void> {
    if (entries.length === 0) return
    const pending = inBatch === undefined ? await this.mirror.atomically(pendingFiles) : await pendingFiles(inBatch)
    // A commit still pending stays this writer's to forget once published.
    const settled = await this.shared.journal.settle(entries, this.shared.catalog, pending)
    this.unsettled = this.unsettled.filter((e) => !settled.has(e.commit))
  }

  /** Per table of the batch: a window of the rows it can touch, or a whole write. */
  private async beforeBatch(sql: SqlSession, batch: BatchCommit): Promise<BatchContext> {
    const context: BatchContext = { replay: false, windows: [], whole: [], renamed: new Map() }
    if (batch.checkpoint !== undefined) {
      const stored = await readCheckpointLsn(sql, batch.checkpoint.source)
      if (stored !== undefined && batch.checkpoint.lsn <= stored) return { ...context, replay: true }
    }
    // Per destination table its parts; a table a copy is swapped into is written whole.
    const tables = new Map<string, { target: TableTarget; parts: DuckStaged['parts'][number][]; whole: boolean }>()
    const entry = (target: TableTarget) => {
      const name = destinationTable(target)
      let found = tables.get(name)
      if (found === undefined) tables.set(name, (found = { target, parts: [], whole: false }))
      return found
    }
    for (const swap of batch.swaps) {
      const e = entry(swap.table)
      e.whole = true
      for (const s of swap.changes as readonly DuckStaged[]) e.parts.push(...s.parts)
    }
    for (const s of batch.changes as readonly DuckStaged[]) entry(s.target).parts.push(...s.parts)
    for (const [name, { target, parts, whole }] of tables) {
      const renamed = new Map<string, string>()
      for (const p of parts) if (p.kind === 'schema') for (const r of p.change.renamed) renamed.set(r.to, renamed.get(r.from) ?? r.from)
      context.renamed.set(name, renamed)
      const rows = parts.filter((p): p is Extract<typeof p, { kind: 'rows' }> => p.kind === 'rows') as StagedRows[]
      const window = whole || rows.length !== parts.length ? undefined : await openWindow(sql, target, rows)
      if (window === undefined) context.whole.push(target)
      else context.windows.push(window)
    }
    return context
  }

  private async afterBatch(sql: SqlSession, batch: BatchCommit, context: BatchContext): Promise<void> {
    if (context.replay) return
    // A batch of swaps alone holds the checkpoint where it is.
    const stored = new Map<string, bigint>()
    for (const t of [...context.windows.map((w) => w.target), ...context.whole]) if (!stored.has(t.sourceName)) stored.set(t.sourceName, (await readCheckpointLsn(sql, t.sourceName)) ?? 0n)
    const info = (target: TableTarget) => ({ source: target.sourceName, lsn: batch.checkpoint?.lsn ?? stored.get(target.sourceName) ?? 0n, renamed: context.renamed.get(destinationTable(target)) })
    const pending: PreparedVersion[] = []
    for (const w of context.windows) pending.push(...present(await prepareWindow(sql, this.lake, w, info(w.target))))
    for (const target of context.whole) pending.push(...present(await prepareWhole(sql, this.lake, target, info(target))))
    await recordPending(sql, this.shared.catalog, pending)
  }

  /** A table's rows written anew, in the transaction of the mirror's change `work`. */
  private async writeWhole(target: TableRef, source: string, lsn: bigint, work: () => Promise<void>, adopt = false): Promise<number> {
    await this.publishPending()
    await this.settle(this.unsettled)
    let records = 0
    await this.mirror.atomically(async (sql) => {
      await work()
      const version = await prepareWhole(sql, this.lake, target, { source, lsn, adopt })
      records = version?.records ?? 0
      await recordPending(sql, this.shared.catalog, present(version))
    })
    await this.published()
    return records
  }

  /**
   * Rewrites tables whole from the mirror (inlet compact): one snapshot of large files without
   * deletes, at the position they hold. All streaming tables, or those named `schema.table`.
   */
  async compact(names: readonly string[] = []): Promise<CompactedTable[]> {
    const rows = await this.mirror.atomically((sql) => sql.rows<{ source: string; source_schema: string; source_table: string; dest_schema: string; dest_table: string; scd: number }>(`SELECT source, source_schema, source_table, dest_schema, dest_table, scd FROM _inlet.tables WHERE phase = 'streaming' ORDER BY dest_schema, dest_table`))
    const named = (r: (typeof rows)[number]) => names.length === 0 || names.includes(`${r.dest_schema}.${r.dest_table}`) || names.includes(`${r.source_schema}.${r.source_table}`)
    const unknown = names.filter((n) => !rows.some((r) => `${r.dest_schema}.${r.dest_table}` === n || `${r.source_schema}.${r.source_table}` === n))
    if (unknown.length > 0) throw new InletError('INLET-C004', `No streaming table ${unknown.join(', ')} in ${this.url}.`, { fix: `Name tables as schema.table: ${rows.slice(0, 3).map((r) => `${r.dest_schema}.${r.dest_table}`).join(' ')}` })
    const done: CompactedTable[] = []
    for (const r of rows.filter(named)) {
      const current = await this.shared.catalog.current(r.dest_schema, r.dest_table)
      if (current === undefined) continue
      // The mirror's checkpoint: an adopted snapshot (another writer's) carries no inlet.lsn.
      const lsn = (await this.mirror.readSource(r.source))?.checkpointLsn ?? snapshotLsn(current.meta)
      const before = currentSnapshot(current.meta)
      const target: TableRef = { destSchema: r.dest_schema, destName: r.dest_table, display: `${r.source_schema}.${r.source_table}`, scd: Number(r.scd) === 2 ? 2 : 1 }
      const records = await this.writeWhole(target, r.source, lsn, async () => undefined, true)
      done.push({ table: `${r.dest_schema}.${r.dest_table}`, records, deleteFilesBefore: deleteFilesSinceWhole(before) })
    }
    return done
  }

  /**
   * Makes the versions the mirror recorded current (in one catalog transaction where the catalog
   * can), then forgets them; again after a crash, as publishing is idempotent. One at a time per
   * warehouse: the writers of a run (several sources, a copy) share it.
   */
  private publishPending(atOpen = false): Promise<void> {
    const key = this.localPath
    const previous = publishing.get(key) ?? Promise.resolve()
    const next = previous.catch(() => undefined).then(() =>
      this.mirror.atomically((sql) => publishVersions(sql, this.shared.catalog, atOpen)),
    )
    publishing.set(key, next)
    return next
  }

  // ---- state (the mirror's) ----------------------------------------------------------------

  hasState(): Promise<boolean> { return this.mirror.hasState() }
  readSource(source: string): Promise<SourceState | undefined> { return this.mirror.readSource(source) }
  writeSource(state: SourceState): Promise<void> { return this.mirror.writeSource(state) }
  listSources(): Promise<SourceState[]> { return this.mirror.listSources() }
  writeSourceConnection(source: string, url: string): Promise<void> { return this.mirror.writeSourceConnection(source, url) }
  async writeIdleCheckpoint(source: string, lsn: bigint): Promise<void> {
    await this.publishPending()
    return this.mirror.writeIdleCheckpoint(source, lsn)
  }
  writeLastError(source: string, error: LastError): Promise<void> { return this.mirror.writeLastError(source, error) }
  readTables(source: string): Promise<TableState[]> { return this.mirror.readTables(source) }
  describeType(type: string): string { return icebergTypeName(type) }
  readSchemaChanges(source: string, schema: string, table: string): Promise<SchemaChangeRecord[]> { return this.mirror.readSchemaChanges(source, schema, table) }
  markRefresh(source: string, schema: string, table: string, requested?: boolean): Promise<boolean> { return this.mirror.markRefresh(source, schema, table, requested) }
  followRename(state: TableState, target: TableTarget): Promise<void> { return this.mirror.followRename(state, target) }
  currentRows(state: TableState): Promise<number> { return this.mirror.currentRows(state) }

  // ---- tables -----------------------------------------------------------------------------

  nameKey(schema: string, table: string): string {
    return this.mirror.nameKey(schema, table)
  }
  tableNames(): Promise<Set<string>> {
    return this.mirror.tableNames()
  }
  async assertOwnable(target: TableTarget): Promise<void> {
    await this.mirror.assertOwnable(target)
    const current = await this.shared.catalog.current(target.destSchema, target.destName)
    if (current !== undefined) await this.mirror.atomically((sql) => assertWrittenHere(sql, this.shared.catalog, target, current, `${this.url} (mirror ${this.localPath})`))
  }
  createTable(target: TableTarget, phase?: TablePhase, snapshotLsn?: bigint): Promise<void> {
    return this.mirror.createTable(target, phase, snapshotLsn)
  }
  dropTable(target: TableTarget): Promise<void> {
    return this.mirror.dropTable(target)
  }
  columnTypes(target: TableTarget): Promise<Map<string, string>> {
    return this.mirror.columnTypes(target)
  }
  async widenColumn(target: TableTarget, column: TargetColumn): Promise<void> {
    await this.writeWhole(target, target.sourceName, await this.tableLsn(target), () => this.mirror.widenColumn(target, column))
  }
  async dropColumns(target: TableTarget, names: readonly string[]): Promise<void> {
    await this.writeWhole(target, target.sourceName, await this.tableLsn(target), () => this.mirror.dropColumns(target, names))
  }
  copyBeside(target: TableTarget, partition?: number): TableTarget {
    return this.mirror.copyBeside(target, partition)
  }
  partitions(target: TableTarget): Promise<Set<number>> {
    return this.mirror.partitions(target)
  }

  /** The checkpoint of the table's source: the position a rewrite outside a batch holds. */
  private async tableLsn(target: TableTarget): Promise<bigint> {
    return (await this.mirror.readSource(target.sourceName))?.checkpointLsn ?? 0n
  }

  // ---- snapshot ---------------------------------------------------------------------------

  beginBulkLoad(): Promise<void> {
    return this.mirror.beginBulkLoad()
  }
  endBulkLoad(): Promise<void> {
    return this.mirror.endBulkLoad()
  }
  loadSnapshotFiles(target: TableTarget, files: readonly SnapshotFile[], snapshotLsn: bigint, snapshotTime: string): Promise<number> {
    return this.mirror.loadSnapshotFiles(target, files, snapshotLsn, snapshotTime)
  }
  finishTable(target: TableTarget, snapshotLsn: bigint, rows: number): Promise<void> {
    if (target.destName.includes(BESIDE_SUFFIX)) return this.mirror.finishTable(target, snapshotLsn, rows)
    return this.writeWhole(target, target.sourceName, snapshotLsn, () => this.mirror.finishTable(target, snapshotLsn, rows)).then(() => undefined)
  }
  swapIn(copy: TableTarget, table: TableTarget, snapshotLsn: bigint, rows: number): Promise<void> {
    return this.mirror.swapIn(copy, table, snapshotLsn, rows)
  }

  // ---- batches ----------------------------------------------------------------------------

  stage(target: TableTarget, segments: readonly Segment[]): Promise<StagedChanges> {
    return this.mirror.stage(target, segments)
  }
  async commit(batch: BatchCommit): Promise<void> {
    // Versions a failed publish left pending go first: a batch builds on them, and the slot must
    // not be confirmed past a version the catalog does not have.
    await this.publishPending()
    return this.mirror.commit(batch)
  }
  discard(staged: readonly StagedChanges[]): Promise<void> {
    return this.mirror.discard(staged)
  }

  /** Queries read the mirror, which holds what the Iceberg tables hold. */
  openReader(): Promise<QueryReader> {
    return this.mirror.openReader()
  }
}

/** Per warehouse, the publish in progress (see publishPending). */
const publishing = new Map<string, Promise<void>>()

const present = <T>(value: T | undefined): T[] => (value === undefined ? [] : [value])
