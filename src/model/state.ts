/**
 * What a destination keeps of the pipeline besides the rows (DuckDB: the `_inlet` schema of the
 * file): per source its checkpoint and last error, per table its phase and binding. It is written
 * in the same transaction as the rows it describes.
 */
import type { SourceColumn } from './source-table.js'

export interface SourceState {
  readonly source: string
  readonly systemId: string
  readonly slot: string
  /** End LSN of the last applied transaction (or the slot's consistent point before the first). */
  readonly checkpointLsn: bigint
  /** Commit time of the last applied transaction (PostgreSQL text); null before the first. */
  readonly checkpointCommitTime?: string | null
  /** The error that last stopped a run of this source (code, message, table, time). */
  readonly lastError?: LastError | null
  /** When the checkpoint was last written. */
  readonly updatedAt?: string | null
  /** Where the source is, without the password (`toSafeUrl`), for inlet status of the file alone. */
  readonly connection?: string | null
}

export interface LastError {
  readonly code: string
  readonly message: string
  readonly table?: string | undefined
  /** The exact command or SQL that fixes it, when the error names one. */
  readonly fix?: string | undefined
  readonly at: string
}

/** `dropped`: the source table was dropped; the destination table is kept as it was. */
export type TablePhase = 'snapshot' | 'streaming' | 'dropped'

/** A column as recorded when the table was copied or last changed (attnum: the source's). */
export interface RecordedColumn {
  readonly name: string
  readonly attnum?: number
  readonly key?: boolean
  readonly source?: SourceColumn
  /** The destination type as bound (e.g. `DECIMAL(12,2)`). */
  readonly type?: string
}

/** A schema change as the table's history keeps it. */
export interface SchemaChangeRecord {
  /** When it was applied (ISO 8601, UTC). */
  readonly at: string
  /** What changed (`added note VARCHAR`, `qty INTEGER -> BIGINT (widened)`, ...). */
  readonly change: string
}

export interface TableState {
  readonly sourceSchema: string
  readonly sourceTable: string
  readonly destSchema: string
  readonly destTable: string
  readonly scd: 1 | 2
  readonly phase: TablePhase
  /** Changes of transactions that committed before this LSN are in the snapshot. */
  readonly snapshotLsn: bigint
  readonly snapshotRows: bigint
  readonly sourceOid: number | undefined
  readonly refreshRequested: boolean
  /** Commit time of the last transaction applied to it (PostgreSQL text); null before the first. */
  readonly lastCommitTime: string | null
  readonly columns: readonly RecordedColumn[]
}

/** The checkpoint a batch advances, written in the batch's transaction. */
export interface Checkpoint {
  readonly source: string
  /** End LSN of the batch's last transaction. */
  readonly lsn: bigint
  /** Its commit time (TIMESTAMPTZ text); null for a position with nothing applied (idle). */
  readonly commitTime: string | null
  /** Per source table of the batch, the commit time of its last change. */
  readonly tables: ReadonlyArray<{ readonly schema: string; readonly table: string; readonly commitTime: string }>
}
