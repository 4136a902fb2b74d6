/**
 * A selected source table bound to its destination table: where it lands, its SCD type, the
 * columns that land (after exclusions) with the destination type of each, and which of them form
 * the key. The pipeline, the snapshot reader and every destination share this one description.
 */
import type { SourceColumn, SourceTable } from './source-table.js'

/** A destination's type for a source column; `name` is the destination's own spelling of it. */
export interface ColumnType {
  readonly name: string
}

/** How a destination maps source types (each destination brings its own; the pipeline asks it). */
export interface TypeMapping {
  /** The destination type that holds every value of the source column exactly. */
  columnType(column: SourceColumn): ColumnType
  /** Whether a column of destination type `from` converts in place to `to`, keeping every value. */
  widens(from: string, to: string): boolean
}

export interface TargetColumn {
  readonly name: string
  readonly source: SourceColumn
  readonly type: ColumnType
}

export interface TableTarget {
  /** The source name (config `name`, default the database). */
  readonly sourceName: string
  readonly table: SourceTable
  readonly destSchema: string
  readonly destName: string
  readonly scd: 1 | 2
  readonly columns: readonly TargetColumn[]
  /** Indexes into `columns` of the key; empty: rows are identified by all their values. */
  readonly key: readonly number[]
  /** Source columns left out by configuration (`exclude_columns`). */
  readonly excluded: readonly string[]
  /** `schema.table` of the source, for messages. */
  readonly display: string
  /**
   * A partitioned table whose changes arrive under each leaf partition (publication without
   * publish_via_partition_root): each row records its leaf's OID (PARTITION_COLUMN), so that a
   * partition's TRUNCATE or DETACH removes exactly its rows.
   */
  readonly partitionColumn?: boolean
}

/** Names of the columns every destination table has besides the source's. */
export const LSN_COLUMN = '_inlet_lsn'
export const SYNCED_COLUMN = '_inlet_synced_at'
export const START_COLUMN = '__START_AT'
export const END_COLUMN = '__END_AT'
/** The leaf partition (OID) that holds the row, in tables with `partitionColumn`. */
export const PARTITION_COLUMN = '_inlet_partition'
export const META_COLUMNS: ReadonlySet<string> = new Set([LSN_COLUMN, SYNCED_COLUMN, START_COLUMN, END_COLUMN, PARTITION_COLUMN])
