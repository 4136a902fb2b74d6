/**
 * The destination contract: everything the pipeline asks of a place where tables land. The
 * pipeline knows no engine; each destination (`duckdb/`, and the lakehouse after it) implements
 * this interface in a folder of its own and is picked by URL scheme in `registry.ts`.
 *
 * What every destination guarantees:
 *
 * - **A batch and its checkpoint commit atomically, or not at all.** `commit()` makes every staged
 *   change of the batch, the swaps of tables copied beside the stream, the per-table state and the
 *   checkpoint (the end LSN of the batch's last transaction) visible and durable together. If it
 *   throws, none of it is visible, and the pipeline confirms nothing to the slot. The pipeline
 *   confirms an LSN to PostgreSQL only after `commit()` of a batch holding it has resolved.
 * - **Replaying a committed batch changes nothing.** A batch whose checkpoint is not past the
 *   source's stored checkpoint was committed before (its confirmation to the slot was lost, or a
 *   caller retried): `commit()` leaves tables and state as they are. The pipeline also never hands
 *   over a transaction that committed before the checkpoint, so each change lands exactly once.
 * - **A flush of a partial transaction writes no checkpoint.** A transaction too large for memory
 *   is handed over in pieces: `stage()` may be called many times for one table before the
 *   `commit()` that holds them. Staged changes are scratch: invisible to readers, not durable
 *   across a crash, dropped by `discard()` or `close()`, and applied in the order they were staged.
 * - **Changes of a table apply in stream order**, within a segment list and across staged parts:
 *   a schema change applies between the rows before and after it, whatever the engine's own rules
 *   for DDL inside a transaction (the destination reorders its statements, not the pipeline).
 * - **State is the destination's.** Source checkpoints, table phases and bindings (see
 *   model/state.ts) live in the destination and change only in the same transactions as the data
 *   they describe, so a crash at any point leaves state and rows agreeing.
 *
 * Errors: a write that could not be made durable is INLET-D002 (nothing of it confirmed), a
 * destination that cannot be opened INLET-D001, a table Inlet did not create INLET-D003.
 */
import type { Segment } from '../model/change-set.js'
import type { SnapshotFile } from '../model/snapshot-file.js'
import type { Checkpoint, LastError, SchemaChangeRecord, SourceState, TablePhase, TableState } from '../model/state.js'
import type { TableTarget, TargetColumn, TypeMapping } from '../model/table-binding.js'

/** Optional behaviours, stated once; the pipeline checks them instead of knowing engines. */
export interface DestinationCapabilities {
  /** A table copied beside the live one (`copyBeside`) can replace it in a batch: refresh without downtime. */
  readonly swapBeside: boolean
  /** A second writer (`openWriter`) loads a copy while batches commit on the first. */
  readonly concurrentWriters: boolean
  /** Serves read-only SQL over its tables (`inlet query`, the run's local API). */
  readonly readOnlyQueries: boolean
  /**
   * A column that received a value its type cannot hold is widened to text (`onWidened`): a
   * text column then takes every value of its source column, whatever the type mapping says.
   */
  readonly widensToText?: boolean
  /** How long a stream batch gathers changes, and how many, unless the config says (default 0.5 s, 50,000). */
  readonly commitIntervalMs?: number
  readonly commitMaxChanges?: number
}

/** Changes of one table written to the destination's scratch space by `stage()`, applied by `commit()`. */
export interface StagedChanges {
  readonly target: TableTarget
  /** Changes staged (for logs and metrics). */
  readonly changes: number
}

/** A table loaded beside its live table that replaces it in a batch, with the changes held for it. */
export interface Swap {
  /** The copy, loaded beside the table (see `copyBeside`). */
  readonly copy: TableTarget
  /** The table it replaces, as the copy was planned. */
  readonly table: TableTarget
  /** The copy's consistent point: changes before it are in the copy. */
  readonly snapshotLsn: bigint
  readonly rows: number
  /** Changes committed since the copy's snapshot, applied to it after the swap, in order. */
  readonly changes: readonly StagedChanges[]
  /**
   * The copy holds one leaf partition's rows: they replace that partition's rows in the table
   * (SCD2: its current versions are closed), and the table stays as it is otherwise.
   */
  readonly partition?: number | undefined
}

export interface BatchCommit {
  /** Copies replacing their tables; applied first, so that the batch's changes land in them. */
  readonly swaps: readonly Swap[]
  /** Staged changes of the batch, in stream order per table. */
  readonly changes: readonly StagedChanges[]
  /** The checkpoint the batch advances; absent for a batch of swaps alone (the checkpoint stays). */
  readonly checkpoint?: Checkpoint | undefined
}

/** A read-only SQL result, values as JSON. */
export interface QueryResult {
  readonly columns: ReadonlyArray<{ readonly name: string; readonly type: string }>
  readonly rows: ReadonlyArray<Record<string, unknown>>
  /** More rows than the limit: only the first `limit` are here. */
  readonly truncated: boolean
}

export interface QueryReader {
  /** One read-only statement, refused (INLET-D005) when it could change anything. */
  query(sql: string, limit: number): Promise<QueryResult>
  /** Stops a query in progress (the run is stopping). */
  interrupt(): void
  close(): Promise<void>
}

export interface DestinationOptions {
  /** Open to read only (inlet status, inlet query with no run): nothing is created or changed. */
  readonly readOnly?: boolean
  /** `dropped_columns`: a column dropped in the source is kept (NULL from then on) or dropped. */
  readonly droppedColumns?: 'keep' | 'drop'
  /** Bytes the destination's engine may use for its own buffers (its share of `memory_limit`). */
  readonly memoryBytes?: number
  /** The most it may take for one write that needs more than `memoryBytes` (very large values). */
  readonly memoryCeilingBytes?: number
  /**
   * A column widened to hold a value its type could not (DuckDB: NaN in DECIMAL, an infinite
   * interval, an array with explicit bounds, as PostgreSQL's text): a schema change to log.
   */
  readonly onWidened?: (widened: { readonly table: string; readonly column: string; readonly from: string }) => void
}

export interface Destination {
  /** The URL it was opened with (`duckdb:PATH`), without secrets. */
  readonly url: string
  /**
   * A local path that names this destination on this machine: scratch directories and the run's
   * control socket are named after it (DuckDB: the database file).
   */
  readonly localPath: string
  readonly capabilities: DestinationCapabilities
  readonly types: TypeMapping

  /** Another writer on the same destination (a copy beside the stream, another source); closes only itself. */
  openWriter(): Promise<Destination>
  /** Drops staged scratch and closes; an open batch is abandoned. */
  close(): Promise<void>

  // ---- state -------------------------------------------------------------------------
  /** Whether the destination holds Inlet's state at all (none before the first run). */
  hasState(): Promise<boolean>
  readSource(source: string): Promise<SourceState | undefined>
  /** Every source the destination holds state for (inlet status of the destination alone). */
  listSources(): Promise<SourceState[]>
  /** Records where a source is (a URL without the password) on its state row. */
  writeSourceConnection(source: string, url: string): Promise<void>
  /** Creates or replaces a source's state row in one step (a crash leaves the old row or the new). */
  writeSource(state: SourceState): Promise<void>
  /** A position with nothing to apply (an idle source, WAL of other tables) becomes the checkpoint. */
  writeIdleCheckpoint(source: string, lsn: bigint): Promise<void>
  /** The error that stopped a run, for inlet status (best effort). */
  writeLastError(source: string, error: LastError): Promise<void>
  readTables(source: string): Promise<TableState[]>
  /** How the destination names a bound column type (Iceberg: its schema's type); absent: as bound. */
  describeType?(type: string): string
  /** A table's schema changes as applied, oldest first. */
  readSchemaChanges(source: string, schema: string, table: string): Promise<SchemaChangeRecord[]>
  /** Marks (or unmarks) a streaming table for a new copy; false when there is no such table. */
  markRefresh(source: string, schema: string, table: string, requested?: boolean): Promise<boolean>
  /** The source table of a state row was renamed: the row follows it. */
  followRename(state: TableState, target: TableTarget): Promise<void>
  /** Rows of a destination table (SCD2: current versions). */
  currentRows(state: TableState): Promise<number>

  // ---- tables ------------------------------------------------------------------------
  /**
   * How the destination compares table names: two source tables whose keys are equal would land
   * in one table (DuckDB folds case). Keys of `tableNames()` are in this form.
   */
  nameKey(schema: string, table: string): string
  tableNames(): Promise<Set<string>>
  /** A destination table of that name that Inlet did not make is never replaced (INLET-D003). */
  assertOwnable(target: TableTarget): Promise<void>
  /** Creates the table empty (replacing what was there) and, with `phase`, its state, atomically. */
  createTable(target: TableTarget, phase?: TablePhase, snapshotLsn?: bigint): Promise<void>
  dropTable(target: TableTarget): Promise<void>
  /** The table's columns and their types, named as `types.columnType()` names them; empty when absent. */
  columnTypes(target: TableTarget): Promise<Map<string, string>>
  /** Widens a column in place to the column's type (every value kept). */
  widenColumn(target: TableTarget, column: TargetColumn): Promise<void>
  /** Drops columns the source no longer has (`dropped_columns: drop`, found at start). */
  dropColumns(target: TableTarget, names: readonly string[]): Promise<void>
  /** Where a new copy of `target` (or of its leaf `partition` alone) loads, beside it. */
  copyBeside(target: TableTarget, partition?: number): TableTarget
  /** The leaf partitions (OIDs) whose rows a table with `partitionColumn` holds. */
  partitions(target: TableTarget): Promise<Set<number>>

  // ---- snapshot ----------------------------------------------------------------------
  /** The engine may use every core for bulk loading until `endBulkLoad()`. */
  beginBulkLoad(): Promise<void>
  endBulkLoad(): Promise<void>
  /** Loads CSV files of COPY output (PostgreSQL text forms); returns the row count. */
  loadSnapshotFiles(target: TableTarget, files: readonly SnapshotFile[], snapshotLsn: bigint, snapshotTime: string): Promise<number>
  /** Every row of the table is loaded: it streams from `snapshotLsn` on. */
  finishTable(target: TableTarget, snapshotLsn: bigint, rows: number): Promise<void>
  /** Replaces a table by its copy beside it, in a transaction of its own (no held changes). */
  swapIn(copy: TableTarget, table: TableTarget, snapshotLsn: bigint, rows: number): Promise<void>

  // ---- batches -----------------------------------------------------------------------
  /** Writes segments of one table to scratch, for a later `commit()` (see the contract above). */
  stage(target: TableTarget, segments: readonly Segment[]): Promise<StagedChanges>
  commit(batch: BatchCommit): Promise<void>
  /** Drops staged changes no commit will take. */
  discard(staged: readonly StagedChanges[]): Promise<void>

  // ---- reads -------------------------------------------------------------------------
  /** A reader for read-only SQL (capability `readOnlyQueries`), on a connection of its own. */
  openReader(): Promise<QueryReader>
}
