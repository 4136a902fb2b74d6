/**
 * The Iceberg destination (`iceberg:file:///PATH`): tables as Iceberg v2 tables under PATH, one
 * directory per `schema/table`, read by path (ClickHouse's icebergLocal, Spark's and Flink's
 * Hadoop catalog).
 *
 * It is built on a local DuckDB mirror of the tables (`PATH/_inlet/mirror.duckdb`), which runs the
 * same apply engine as the DuckDB destination: unchanged TOAST values, SCD2 versions, keyless
 * duplicates, partitions and schema changes behave exactly as there. Each commit of the mirror
 * also writes, inside its transaction, one Iceberg snapshot per changed table from the rows that
 * changed (table-sync.ts), and records the new metadata versions as pending; once the mirror has
 * committed they are made current (path-catalog.ts), and only then is the batch confirmed to the
 * slot. A crash between the two leaves them pending, and the next open finishes them, so the
 * Iceberg tables always end equal to the mirror, and the mirror holds the checkpoint.
 *
 * Left for later (see the README): object storage and the JDBC catalog, compaction and snapshot
 * expiry, rebuilding a lost mirror from the Iceberg tables.
 */
import { existsSync, mkdirSync, readdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { InletError } from '../../errors/inlet-error.js'
import type { Segment } from '../../model/change-set.js'
import type { SnapshotFile } from '../../model/snapshot-file.js'
import type { LastError, SourceState, TablePhase, TableState } from '../../model/state.js'
import type { TableTarget, TargetColumn } from '../../model/table-binding.js'
import type { BatchCommit, Destination, DestinationOptions, QueryReader, StagedChanges } from '../destination.js'
import { destinationTable } from '../duckdb/apply-sql.js'
import type { DuckStaged } from '../duckdb/batch-apply.js'
import type { CommitHooks } from '../duckdb/commit-hooks.js'
import { BESIDE_SUFFIX, DuckDbDestination } from '../duckdb/duckdb-destination.js'
import { literal, type SqlSession } from '../duckdb/sql-session.js'
import { readCheckpointLsn } from '../duckdb/state-store.js'
import { publishVersion } from './path-catalog.js'
import { openWindow, prepareWhole, prepareWindow, type PendingVersion, type StagedRows, type Window } from './table-sync.js'

const PENDING = '_inlet.iceberg_pending'

/** Parses `file:///PATH` (the part after `iceberg:`). */
function warehousePath(rest: string): string {
  if (rest.startsWith('file://')) return resolve(rest.slice('file://'.length))
  if (rest.startsWith('s3://')) {
    throw new InletError('INLET-C004', `Iceberg tables on object storage (${rest.split('/').slice(0, 3).join('/')}) are not supported yet.`, { fix: 'Use iceberg:file:///PATH for tables on a local or mounted file system, or duckdb:PATH.' })
  }
  throw new InletError('INLET-C004', `The Iceberg destination "iceberg:${rest}" names no warehouse.`, { fix: 'Use iceberg:file:///PATH (an absolute path after file://).' })
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

  private constructor(
    private readonly warehouse: string,
    private readonly mirror: DuckDbDestination,
  ) {
    this.capabilities = mirror.capabilities
    this.types = mirror.types
    this.localPath = mirror.localPath
    mirror.hooks = this.hooks()
  }

  get url(): string {
    return `iceberg:file://${this.warehouse}`
  }

  /** Where the mirror of the warehouse `rest` (after `iceberg:`) lives. */
  static mirrorPath(rest: string): string {
    return join(warehousePath(rest), '_inlet', 'mirror.duckdb')
  }

  static async open(rest: string, options: DestinationOptions = {}): Promise<IcebergDestination> {
    const warehouse = warehousePath(rest)
    const inlet = join(warehouse, '_inlet')
    if (options.readOnly === true && !existsSync(inlet)) throw new InletError('INLET-D001', `${warehouse} holds no Iceberg tables written by Inlet.`, { fix: 'Check the path, or run inlet run with this destination first.' })
    // DuckDB may write anywhere under the warehouse: it must be Inlet's alone.
    if (options.readOnly !== true && existsSync(warehouse) && !existsSync(inlet) && readdirSync(warehouse).length > 0) {
      throw new InletError('INLET-D001', `${warehouse} is not empty and holds no Iceberg tables written by Inlet.`, { fix: 'Give the Iceberg destination a directory of its own (new or empty).' })
    }
    if (options.readOnly !== true) mkdirSync(inlet, { recursive: true })
    const mirror = await DuckDbDestination.open(join(inlet, 'mirror.duckdb'), options, [warehouse])
    const destination = new IcebergDestination(warehouse, mirror)
    if (options.readOnly !== true) {
      await mirror.atomically((sql) => sql.run(`CREATE TABLE IF NOT EXISTS ${PENDING} (location VARCHAR, version INTEGER, temp VARCHAR)`))
      await destination.publishPending()
    }
    return destination
  }

  async openWriter(): Promise<Destination> {
    return new IcebergDestination(this.warehouse, await this.mirror.openWriter())
  }

  close(): Promise<void> {
    return this.mirror.close()
  }

  // ---- Iceberg commits ------------------------------------------------------------------

  private hooks(): CommitHooks {
    return {
      before: (sql, batch) => this.beforeBatch(sql, batch),
      after: (sql, batch, context) => this.afterBatch(sql, batch, context as BatchContext),
      committed: () => this.publishPending(),
    }
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
    const pending: PendingVersion[] = []
    for (const w of context.windows) pending.push(...present(await prepareWindow(sql, this.warehouse, w, info(w.target))))
    for (const target of context.whole) pending.push(...present(await prepareWhole(sql, this.warehouse, target, info(target))))
    await recordPending(sql, pending)
  }

  /** A table's rows written anew, in the transaction of the mirror's change `work`. */
  private async writeWhole(target: TableTarget, lsn: bigint, work: () => Promise<void>): Promise<void> {
    await this.mirror.atomically(async (sql) => {
      await work()
      await recordPending(sql, present(await prepareWhole(sql, this.warehouse, target, { source: target.sourceName, lsn })))
    })
    await this.publishPending()
  }

  /**
   * Makes the versions the mirror recorded current, then forgets them (again after a crash:
   * idempotent). One at a time per warehouse: the writers of a run (several sources, a copy) share it.
   */
  private publishPending(): Promise<void> {
    const previous = publishing.get(this.warehouse) ?? Promise.resolve()
    const next = previous.catch(() => undefined).then(() =>
      this.mirror.atomically(async (sql) => {
        const rows = await sql.rows<{ location: string; version: number; temp: string }>(`SELECT location, version, temp FROM ${PENDING} ORDER BY location, version`)
        for (const r of rows) {
          publishVersion(r.location, Number(r.version), r.temp)
          await sql.run(`DELETE FROM ${PENDING} WHERE location = ${literal(r.location)} AND version = ${Number(r.version)}`)
        }
      }),
    )
    publishing.set(this.warehouse, next)
    return next
  }

  // ---- state (the mirror's) ----------------------------------------------------------------

  hasState(): Promise<boolean> {
    return this.mirror.hasState()
  }
  readSource(source: string): Promise<SourceState | undefined> {
    return this.mirror.readSource(source)
  }
  writeSource(state: SourceState): Promise<void> {
    return this.mirror.writeSource(state)
  }
  writeIdleCheckpoint(source: string, lsn: bigint): Promise<void> {
    return this.mirror.writeIdleCheckpoint(source, lsn)
  }
  writeLastError(source: string, error: LastError): Promise<void> {
    return this.mirror.writeLastError(source, error)
  }
  readTables(source: string): Promise<TableState[]> {
    return this.mirror.readTables(source)
  }
  markRefresh(source: string, schema: string, table: string, requested?: boolean): Promise<boolean> {
    return this.mirror.markRefresh(source, schema, table, requested)
  }
  followRename(state: TableState, target: TableTarget): Promise<void> {
    return this.mirror.followRename(state, target)
  }
  currentRows(state: TableState): Promise<number> {
    return this.mirror.currentRows(state)
  }

  // ---- tables -----------------------------------------------------------------------------

  nameKey(schema: string, table: string): string {
    return this.mirror.nameKey(schema, table)
  }
  tableNames(): Promise<Set<string>> {
    return this.mirror.tableNames()
  }
  assertOwnable(target: TableTarget): Promise<void> {
    return this.mirror.assertOwnable(target)
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
    await this.writeWhole(target, await this.tableLsn(target), () => this.mirror.widenColumn(target, column))
  }
  async dropColumns(target: TableTarget, names: readonly string[]): Promise<void> {
    await this.writeWhole(target, await this.tableLsn(target), () => this.mirror.dropColumns(target, names))
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
    return this.writeWhole(target, snapshotLsn, () => this.mirror.finishTable(target, snapshotLsn, rows))
  }
  swapIn(copy: TableTarget, table: TableTarget, snapshotLsn: bigint, rows: number): Promise<void> {
    return this.mirror.swapIn(copy, table, snapshotLsn, rows)
  }

  // ---- batches ----------------------------------------------------------------------------

  stage(target: TableTarget, segments: readonly Segment[]): Promise<StagedChanges> {
    return this.mirror.stage(target, segments)
  }
  commit(batch: BatchCommit): Promise<void> {
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

async function recordPending(sql: SqlSession, pending: readonly PendingVersion[]): Promise<void> {
  for (const p of pending) await sql.run(`INSERT INTO ${PENDING} VALUES (${literal(p.location)}, ${p.version}, ${literal(p.temp)})`)
}
