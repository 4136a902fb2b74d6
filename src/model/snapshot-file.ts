/**
 * A file of snapshot rows: COPY ... CSV FORCE_QUOTE * output of a source table, PostgreSQL text
 * forms, written by the snapshot reader and loaded by a destination.
 */
export interface SnapshotFile {
  readonly path: string
  /** Bytes of its longest row (a destination's reader sizes its buffer by it). */
  readonly longestLine: number
  /** The leaf partition (OID) whose rows it holds. */
  readonly partition: number
}
