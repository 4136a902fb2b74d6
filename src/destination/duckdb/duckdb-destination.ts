/**
 * The DuckDB destination (`duckdb:PATH`): one database file, one writing process. Tables land as
 * `schema.table`, the pipeline's state in the `_inlet` schema of the same file, so that a batch
 * and the checkpoint it advances commit in one DuckDB transaction. This class is the contract's
 * face; the work is in state-store.ts, table-ddl.ts, snapshot-load.ts and batch-apply.ts.
 */
import { availableParallelism } from 'node:os'
import { basename, dirname, join, resolve } from 'node:path'
import { existsSync, rmSync } from 'node:fs'
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api'
import { InletError } from '../../errors/inlet-error.js'
import { quoteIdent } from '../../postgres/sql-text.js'
import type { Segment } from '../../model/change-set.js'
import type { SnapshotFile } from '../../model/snapshot-file.js'
import type { LastError, SchemaChangeRecord, SourceState, TablePhase, TableState } from '../../model/state.js'
import { END_COLUMN, PARTITION_COLUMN, type TableTarget, type TargetColumn } from '../../model/table-binding.js'
import type { BatchCommit, Destination, DestinationCapabilities, DestinationOptions, QueryReader, StagedChanges } from '../destination.js'
import { destinationTable } from './apply-sql.js'
import { columnId, commitBatch, discardStaged, stagedBytes, stagedFills, stagedValues, Stager } from './batch-apply.js'
import { asHeld, DUCKDB_TYPES } from './column-types.js'
import { openFailure, writeFailure } from './duckdb-errors.js'
import type { CommitHooks } from './commit-hooks.js'
import { readOnlyQuery } from './read-only-query.js'
import { scratchRoot } from '../scratch.js'
import { confineReader, confineWriter, temporaryDirectory } from './external-access.js'
import { MemoryPool } from './memory-pool.js'
import { StringCompressionSwitch, isLargeCommit } from './large-commit.js'
import { widening, widenToText, type StagedValues, type WidenedColumn } from './widen-to-text.js'
import { loadSnapshotFiles } from './snapshot-load.js'
import { literal, SqlSession } from './sql-session.js'
import * as state from './state-store.js'
import * as ddl from './table-ddl.js'

/** Destination name suffix of a copy loading beside its table. */
export const BESIDE_SUFFIX = '__inlet_refresh'

const CAPABILITIES: DestinationCapabilities = { swapBeside: true, concurrentWriters: true, readOnlyQueries: true, widensToText: true }

/** Rows per row group of tables written by Inlet (see open()). */
const ROW_GROUP_SIZE = 16_384

/** The name DuckDB itself gives a database file: its name without the extension. */
function catalogName(path: string): string {
  return basename(path).replace(/\.[^.]*$/, '') || 'destination'
}

/** Each writer stages its batches in a directory of its own. */
let writers = 0

export class DuckDbDestination implements Destination {
  readonly capabilities = CAPABILITIES
  readonly types = DUCKDB_TYPES
  private readonly sql: SqlSession
  private readonly stager: Stager
  private readonly stageDirectory: string
  /** See CommitHooks; set by the destination built on this one. */
  hooks: CommitHooks | undefined

  private constructor(
    private readonly instance: DuckDBInstance,
    connection: DuckDBConnection,
    readonly localPath: string,
    private readonly options: DestinationOptions,
    /** Shared by the writers of one database (DuckDB's memory_limit is the database's). */
    private readonly pool: MemoryPool | undefined,
    /** Shared too: string compression off for the database while any writer commits a large batch. */
    private readonly strings: StringCompressionSwitch,
    /** A writer opened from another shares its database and closes only itself. */
    private readonly sibling = false,
  ) {
    this.sql = new SqlSession(connection)
    this.stageDirectory = join(scratchRoot(localPath), `stage-${process.pid}-${writers++}`)
    this.stager = new Stager(this.stageDirectory)
  }

  get url(): string {
    return `duckdb:${this.localPath}`
  }

  /**
   * With `readOnly` (inlet status, inlet query), nothing is created or set: the file is read as it
   * is. `directories`: where a destination built on this one writes files through DuckDB.
   */
  static async open(path: string, options: DestinationOptions = {}, directories: readonly string[] = []): Promise<DuckDbDestination> {
    const full = resolve(path)
    if (!existsSync(dirname(full))) throw new InletError('INLET-D001', `The destination directory ${dirname(full)} does not exist.`, { fix: `mkdir -p ${dirname(full)}` })
    let instance: DuckDBInstance
    let connection: DuckDBConnection
    try {
      if (options.readOnly === true) {
        instance = await DuckDBInstance.create(full, { access_mode: 'READ_ONLY' })
        connection = await instance.connect()
      } else {
        instance = await DuckDBInstance.create(':memory:', { temp_directory: temporaryDirectory(full) })
        connection = await instance.connect()
        // Row groups of 16,384 rows rather than DuckDB's 122,880: DuckDB analyses a row group's
        // strings for compression in memory outside its buffer pool, so with 1 kB values the
        // default took ~600 MB whatever memory_limit said. 4,096 saved 20-40 MB more on a 1 GB
        // transaction but cost CDC a third of its speed (0.41-0.45x the raw drain against
        // 0.60-0.67x at 16,384, measured one process per run); see large-commit.ts instead.
        await connection.run(`ATTACH ${literal(full)} AS ${quoteIdent(catalogName(full))} (ROW_GROUP_SIZE ${ROW_GROUP_SIZE})`)
        await connection.run(`USE ${quoteIdent(catalogName(full))}`)
      }
    } catch (cause) {
      throw openFailure(path, cause)
    }
    const destination = new DuckDbDestination(instance, connection, full, options, options.readOnly === true ? undefined : MemoryPool.of(options.memoryBytes, options.memoryCeilingBytes), new StringCompressionSwitch())
    if (options.readOnly === true) {
      await confineReader(destination.sql)
      return destination
    }
    await confineWriter(destination.sql, full, directories)
    // Text rendered from TIMESTAMPTZ (a column widened to text) in UTC, as the source session is pinned.
    await destination.sql.run(`SET TimeZone = 'UTC'`)
    await state.createStateSchema(destination.sql)
    await destination.useThreads(false)
    // DuckDB checkpoints when its WAL passes 16 MB by default: every few batches, and on a table of
    // a million rows each checkpoint rewrites the touched row groups (300-900 ms measured). At
    // 256 MB there are ~15x fewer, for a WAL that replays in seconds after a crash.
    await destination.sql.run(`SET checkpoint_threshold = '256MB'`)
    await destination.pool?.apply(destination.sql)
    return destination
  }

  async openWriter(): Promise<DuckDbDestination> {
    const connection = await this.instance.connect()
    if (this.options.readOnly !== true) {
      await connection.run(`USE ${quoteIdent(catalogName(this.localPath))}`)
      await connection.run(`SET TimeZone = 'UTC'`)
    }
    return new DuckDbDestination(this.instance, connection, this.localPath, this.options, this.pool, this.strings, true)
  }

  async close(): Promise<void> {
    rmSync(this.stageDirectory, { recursive: true, force: true })
    this.sql.close()
    if (!this.sibling) this.instance.closeSync()
  }

  private withRoom<T>(work: () => Promise<T>): Promise<T> {
    return this.pool === undefined ? work() : this.pool.withRoom(this.sql, work)
  }

  /**
   * The snapshot loads with every core (DuckDB reads several files at once). While streaming, one
   * core stays with the JavaScript thread, which decodes the next batch while DuckDB applies the
   * previous one: on two cores that measured 7% faster end to end, with 15% less CPU.
   */
  private async useThreads(all: boolean): Promise<void> {
    const cores = availableParallelism()
    await this.sql.run(`SET threads = ${all ? cores : Math.max(1, cores - 1)}`)
  }

  // ---- state ------------------------------------------------------------------------

  async hasState(): Promise<boolean> {
    return (await ddl.tableNames(this.sql)).has(ddl.nameKey(state.STATE_SCHEMA, 'sources'))
  }

  readSource(source: string): Promise<SourceState | undefined> {
    return state.readSource(this.sql, source)
  }

  listSources(): Promise<SourceState[]> {
    return state.listSources(this.sql)
  }
  writeSourceConnection(source: string, url: string): Promise<void> {
    return state.writeSourceConnection(this.sql, source, url)
  }
  writeSource(source: SourceState): Promise<void> {
    return state.writeSource(this.sql, source)
  }

  async writeIdleCheckpoint(source: string, lsn: bigint): Promise<void> {
    try {
      await state.writeCheckpoint(this.sql, source, lsn, null)
    } catch (cause) {
      throw writeFailure(cause)
    }
  }

  writeLastError(source: string, error: LastError): Promise<void> {
    return state.writeLastError(this.sql, source, error)
  }

  readTables(source: string): Promise<TableState[]> {
    return state.readTables(this.sql, source)
  }

  readSchemaChanges(source: string, schema: string, table: string): Promise<SchemaChangeRecord[]> { return state.readSchemaChanges(this.sql, source, schema, table) }

  markRefresh(source: string, schema: string, table: string, requested = true): Promise<boolean> {
    return state.markRefresh(this.sql, source, schema, table, requested)
  }

  followRename(previous: TableState, target: TableTarget): Promise<void> {
    return state.followRename(this.sql, previous, target)
  }

  async currentRows(t: TableState): Promise<number> {
    const rows = await this.sql.rows<{ n: bigint }>(`SELECT count(*) AS n FROM ${quoteIdent(t.destSchema)}.${quoteIdent(t.destTable)}${t.scd === 2 ? ` WHERE ${quoteIdent(END_COLUMN)} IS NULL` : ''}`)
    return Number(rows[0]?.n ?? 0)
  }

  // ---- tables -----------------------------------------------------------------------

  nameKey(schema: string, table: string): string {
    return ddl.nameKey(schema, table)
  }

  tableNames(): Promise<Set<string>> {
    return ddl.tableNames(this.sql)
  }

  async assertOwnable(target: TableTarget): Promise<void> {
    if (!(await this.tableNames()).has(this.nameKey(target.destSchema, target.destName))) return
    const ours = (await this.readTables(target.sourceName)).some((t) => this.nameKey(t.destSchema, t.destTable) === this.nameKey(target.destSchema, target.destName))
    if (ours) return
    throw new InletError('INLET-D003', `The destination already has a table ${target.destSchema}.${target.destName} that Inlet did not create for ${target.display}.`, {
      fix: `Rename or drop it in the destination, or map ${target.display} elsewhere with as: in inlet.yaml.`,
    })
  }

  /** Creates (or recreates, empty) the table; with `phase`, its state row in the same transaction. */
  async createTable(target: TableTarget, phase?: TablePhase, snapshotLsn = 0n): Promise<void> {
    try {
      await ddl.createSchema(this.sql, target.destSchema)
      await this.sql.atomically(async () => {
        await this.sql.run(`DROP TABLE IF EXISTS ${destinationTable(target)}`)
        await this.sql.run(ddl.createTableSql(target))
        if (phase !== undefined) await state.writeTable(this.sql, target, phase, snapshotLsn, 0n)
      })
    } catch (cause) {
      throw writeFailure(cause, target)
    }
  }

  async dropTable(target: TableTarget): Promise<void> {
    await this.sql.run(`DROP TABLE IF EXISTS ${destinationTable(target)}`)
  }

  columnTypes(target: TableTarget): Promise<Map<string, string>> {
    return ddl.columnTypes(this.sql, target.destSchema, target.destName)
  }

  widenColumn(target: TableTarget, column: TargetColumn): Promise<void> {
    return ddl.widenColumn(this.sql, target, column)
  }

  dropColumns(target: TableTarget, names: readonly string[]): Promise<void> {
    return ddl.dropColumns(this.sql, target, names)
  }

  copyBeside(target: TableTarget, partition?: number): TableTarget {
    return { ...target, destName: `${target.destName}${BESIDE_SUFFIX}${partition === undefined ? '' : `_p${partition}`}` }
  }

  async partitions(target: TableTarget): Promise<Set<number>> {
    if (target.partitionColumn !== true) return new Set()
    const rows = await this.sql.rows<{ p: number | null }>(`SELECT DISTINCT ${quoteIdent(PARTITION_COLUMN)} AS p FROM ${destinationTable(target)}`)
    return new Set(rows.flatMap((r) => (r.p === null ? [] : [Number(r.p)])))
  }

  // ---- snapshot ---------------------------------------------------------------------

  beginBulkLoad(): Promise<void> {
    return this.useThreads(true)
  }

  async endBulkLoad(): Promise<void> {
    // Compact the copy into the file with every core now, rather than at close with fewer.
    // (CHECKPOINT fails while another writer has a transaction open; DuckDB checkpoints later then.)
    await this.sql.run('CHECKPOINT').catch((error: unknown) => {
      if (!/transaction/i.test((error as Error).message)) throw error
    })
    await this.useThreads(false)
  }

  async loadSnapshotFiles(target: TableTarget, files: readonly SnapshotFile[], snapshotLsn: bigint, snapshotTime: string): Promise<number> {
    const values: StagedValues[] = [{ target, files: files.map((f) => f.path), names: target.columns.map((_, i) => `c${i}`), longestLine: Math.max(0, ...files.map((f) => f.longestLine)) }]
    const load = async () => {
      const held = await ddl.columnTypes(this.sql, target.destSchema, target.destName)
      return this.withRoom(() => loadSnapshotFiles(this.sql, asHeld(target, held), files, snapshotLsn, snapshotTime))
    }
    // The table exists before its load: its columns are widened there and then.
    try {
      return await widening(this.sql, values, load, [], async (unfit) => {
        let progress = false
        for (const [t, columns] of unfit) {
          for (const w of await widenToText(this.sql, t, columns)) {
            progress = true
            this.options.onWidened?.(w)
          }
        }
        return progress
      })
    } catch (cause) {
      throw writeFailure(cause, target)
    }
  }

  async finishTable(target: TableTarget, snapshotLsn: bigint, rows: number): Promise<void> {
    try {
      await state.writeTable(this.sql, target, 'streaming', snapshotLsn, BigInt(rows))
    } catch (cause) {
      throw writeFailure(cause, target)
    }
  }

  async swapIn(copy: TableTarget, table: TableTarget, snapshotLsn: bigint, rows: number): Promise<void> {
    await this.commit({ swaps: [{ copy, table, snapshotLsn, rows, changes: [] }], changes: [] })
  }

  // ---- batches ----------------------------------------------------------------------

  async stage(target: TableTarget, segments: readonly Segment[]): Promise<StagedChanges> {
    try {
      return await this.stager.stage(target, segments)
    } catch (cause) {
      throw writeFailure(cause, target)
    }
  }

  async commit(batch: BatchCommit): Promise<void> {
    try {
      // Columns to widen are named by attnum: a batch may add or rename them before its rows, so
      // they are widened inside it, after its DDL (see batch-apply.ts).
      const asText = new Map<string, Set<string>>()
      let widened: WidenedColumn[] = []
      const apply = () => {
        widened = []
        const options = { dropColumns: this.options.droppedColumns === 'drop', asText, widened }
        const hooks = this.hooks
        if (hooks === undefined) return this.withRoom(() => commitBatch(this.sql, batch, options))
        return this.withRoom(() =>
          this.sql.atomically(async () => {
            const context = await hooks.before(this.sql, batch)
            await commitBatch(this.sql, batch, options)
            await hooks.after(this.sql, batch, context)
          }),
        )
      }
      const applyAll = () =>
        widening(this.sql, stagedValues(batch), apply, stagedFills(batch), async (unfit) => {
          let progress = false
          for (const [t, columns] of unfit) {
            const set = asText.get(destinationTable(t)) ?? new Set<string>()
            asText.set(destinationTable(t), set)
            for (const c of t.columns) {
              if (!columns.has(c.name) || set.has(columnId(c))) continue
              set.add(columnId(c))
              progress = true
            }
          }
          return progress
        })
      if (!isLargeCommit(stagedBytes(batch), this.options.memoryBytes)) await applyAll()
      else {
        await this.strings.withoutStringCompression(this.sql, async () => {
          await applyAll()
          // The row groups a large commit rewrote are checkpointed now, also without string
          // compression: otherwise the next checkpoint (at close, measured) analyses them all with
          // it. Best effort: the batch is committed, and DuckDB checkpoints later if this fails (a
          // copy's transaction open on a sibling connection, or memory).
          await this.sql.run('CHECKPOINT').catch(() => undefined)
        })
      }
      for (const w of widened) this.options.onWidened?.(w)
      await this.hooks?.committed()
    } catch (cause) {
      throw writeFailure(cause)
    } finally {
      discardStaged([...batch.changes, ...batch.swaps.flatMap((s) => s.changes)])
    }
  }

  async discard(staged: readonly StagedChanges[]): Promise<void> {
    discardStaged(staged)
  }

  /** Runs `work` in one transaction of this writer (for a destination built on this one). */
  atomically<T>(work: (sql: SqlSession) => Promise<T>): Promise<T> {
    return this.sql.atomically(() => work(this.sql))
  }

  // ---- reads ------------------------------------------------------------------------

  async openReader(): Promise<QueryReader> {
    const reader = this.options.readOnly === true ? this : await this.openWriter()
    const own = reader !== this
    return {
      query: (sql, limit) => readOnlyQuery(reader.sql.connection, sql, limit),
      interrupt: () => reader.sql.connection.interrupt(),
      close: async () => {
        if (own) await reader.close()
      },
    }
  }
}
