/**
 * A source table as the pipeline knows it: its published columns with their types (domains,
 * arrays and enums resolved to what they are built on), the key that identifies a row, and the heap
 * relations that hold its rows (the leaf partitions of a partitioned table). Plain data: read from
 * the catalog by source/table-schema.ts, bound to a destination by pipeline/table-target.ts.
 */

/** A type as the pipeline sees it, after looking through domains. */
export type PgType =
  | { readonly kind: 'base'; readonly oid: number; readonly name: string; readonly typmod: number }
  | { readonly kind: 'array'; readonly element: PgType }
  | { readonly kind: 'enum'; readonly name: string }
  | { readonly kind: 'other'; readonly name: string }

/** pg_class.relreplident: d default (primary key), n nothing, f full, i index. */
export type ReplicaIdentity = 'd' | 'n' | 'f' | 'i'

export interface SourceColumn {
  readonly name: string
  readonly attnum: number
  /** format_type(): what the source calls it, e.g. `numeric(12,2)`, `integer[]`. */
  readonly typeName: string
  /** atttypid as the Relation message carries it (a domain's own OID, not its base). */
  readonly typeOid: number
  /**
   * atttypmod as the Relation message carries it (-1 for a domain or an array without one); absent
   * in columns recorded by older versions.
   */
  readonly typeModifier?: number
  readonly type: PgType
  /** Declared array dimensions (`int[][]` = 2); PostgreSQL does not enforce them. */
  readonly dimensions: number
  readonly notNull: boolean
}

export interface HeapRelation {
  readonly oid: number
  readonly schema: string
  readonly name: string
  readonly pages: number
  readonly estimatedRows: number
}

export interface SourceTable {
  readonly oid: number
  readonly schema: string
  readonly name: string
  readonly columns: readonly SourceColumn[]
  /** Columns that identify a row: the primary key, else the replica identity index; empty = none. */
  readonly key: readonly string[]
  readonly replicaIdentity: ReplicaIdentity
  /** Where the rows live: the table itself, or every leaf partition. */
  readonly heaps: readonly HeapRelation[]
  /** A partitioned table (its rows live in its leaf partitions). */
  readonly partitioned?: boolean
}
