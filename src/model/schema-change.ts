/**
 * A change of a table's columns as the pipeline hands it to a destination, in stream order
 * between the rows written before and after it.
 */
import type { TableTarget, TargetColumn, ColumnType } from './table-binding.js'

export interface AddedColumn {
  readonly column: TargetColumn
  /** PostgreSQL text of the value rows existing at the ALTER hold; null: NULL. */
  readonly fill: string | null
}

export interface RetypedColumn {
  readonly column: TargetColumn
  readonly from: ColumnType
  /** The destination column is widened to the new type (else it already holds it). */
  readonly widen: boolean
}

export interface SchemaChange {
  /** The binding after the change. */
  readonly target: TableTarget
  readonly added: readonly AddedColumn[]
  readonly dropped: readonly string[]
  readonly retyped: readonly RetypedColumn[]
  /** Same attnum, new name (known from the DDL tracking script only). */
  readonly renamed: ReadonlyArray<{ readonly from: string; readonly to: string }>
}

/** A source column as a Relation message or a DDL audit row describes it. */
export interface ColumnState {
  readonly name: string
  readonly typeOid: number
  readonly typeModifier: number
  /** From the DDL audit row; absent in Relation messages. */
  readonly attnum?: number
  /** The audit row's stored default for existing rows: a string, null (none), or absent (unknown). */
  readonly missing?: string | null
}

/** One line for a log and the schema-change history: what changed, in order. */
export function describeChange(change: SchemaChange): string {
  return [
    ...change.added.map((a) => `added ${a.column.name} ${a.column.type.name}${a.fill === null ? '' : ' (existing rows filled)'}`),
    ...change.dropped.map((d) => `dropped ${d} (kept, NULL from now on)`),
    ...change.retyped.map((r) => `${r.column.name} ${r.from.name} -> ${r.column.type.name}${r.widen ? ' (widened)' : ''}`),
    ...change.renamed.map((r) => `renamed ${r.from} to ${r.to}`),
  ].join(', ')
}
