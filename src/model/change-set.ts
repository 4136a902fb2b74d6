/**
 * One table's changes of a batch, coalesced (see pipeline/table-changes.ts) into the rows a
 * destination applies with a few set-based statements, cut into segments at truncates, schema
 * changes and drops so that each applies in stream order.
 */
import type { UnchangedToast } from '../protocol/pgoutput/messages.js'
import type { SchemaChange } from './schema-change.js'
import type { TableTarget } from './table-binding.js'

export type Cell = string | null | UnchangedToast

export interface ChangeCommit {
  /** The commit record's LSN as decimal text. */
  readonly lsn: string
  /** Commit time as TIMESTAMPTZ text. */
  readonly ts: string
}

/** One staging row. All values are PostgreSQL text forms; `null` is SQL NULL. */
export interface StageRow {
  /** U upsert, D delete, V version, C close, I insert n copies (no key), X delete n copies (no key). */
  readonly op: 'U' | 'D' | 'V' | 'C' | 'I' | 'X'
  readonly values: readonly (string | null)[]
  /** '1' at each column whose value was unchanged TOAST and must come from the destination. */
  readonly toast: string | null
  /** Key values of the destination row (current version) that holds those values. */
  readonly lookup: readonly (string | null)[] | null
  readonly lsn: string | null
  readonly ts: string | null
  readonly end: string | null
  readonly first: boolean
  readonly n: number
  /** No-key SCD2: closes of the same row values, in order. */
  readonly group: number
  /** The leaf partition (OID) the row lives in, for tables that record it; else null. */
  readonly part: number | null
}

/** Changes in order; each rows segment is laid out by the binding (`target`) it was built under. */
export type Segment =
  | { readonly kind: 'rows'; readonly target: TableTarget; readonly rows: readonly StageRow[] }
  /** TRUNCATE of the table, or with `partition` of one leaf partition (its rows only). */
  | { readonly kind: 'truncate'; readonly commit: ChangeCommit; readonly partition?: number }
  /** A leaf partition detached (or dropped): its rows leave the table (SCD2: are closed). */
  | { readonly kind: 'partition-gone'; readonly commit: ChangeCommit; readonly partition: number }
  | { readonly kind: 'schema'; readonly change: SchemaChange }
  | { readonly kind: 'dropped' }
