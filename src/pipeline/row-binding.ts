/**
 * Maps a relation's tuples onto a table's columns: the stream's columns are the relation's as the
 * source sent them, the destination's are the target's (some excluded, some renamed, some added).
 */
import { UNCHANGED_TOAST, type TupleValue } from '../protocol/pgoutput/messages.js'
import type { Relation, StreamEvent } from '../source/stream/stream-events.js'
import type { Cell, ChangeCommit } from '../model/change-set.js'
import type { TableTarget } from '../model/table-binding.js'
import type { TableChanges } from './table-changes.js'
import { relationColumnMap } from './table-target.js'

export interface Binding {
  /** The table's binding when this relation was mapped. */
  readonly target: TableTarget
  readonly map: readonly number[]
  /** The relation's columns are the target's, in order: tuples are used as they are. */
  readonly identity: boolean
}

export function bindRelation(target: TableTarget, relation: Relation): Binding {
  const map = relationColumnMap(target, relation)
  return { target, map, identity: map.length === target.columns.length && map.every((to, from) => to === from) }
}

export function cells(binding: Binding, tuple: readonly TupleValue[]): Cell[] {
  // Text-format tuples hold strings only; the decoder's array is not used again, so it is taken over.
  if (binding.identity && !tuple.some(Buffer.isBuffer)) return tuple as Cell[]
  const row: Cell[] = new Array<Cell>(binding.target.columns.length).fill(null)
  for (let i = 0; i < tuple.length; i++) {
    const index = binding.map[i] as number
    if (index < 0) continue
    const v = tuple[i]
    row[index] = v === undefined || v === null ? null : v === UNCHANGED_TOAST ? UNCHANGED_TOAST : typeof v === 'string' ? v : v.toString('utf8')
  }
  return row
}

export type RowEvent = Extract<StreamEvent, { kind: 'insert' | 'update' | 'delete' }>

/** Adds a row change to the table's changes through the binding. */
export function addRowChange(changes: TableChanges, binding: Binding, event: RowEvent, commit: ChangeCommit): void {
  // (A leaf partition's change names the leaf: its OID is where the row lives.)
  const part = binding.target.partitionColumn === true ? event.relation.id : null
  if (event.kind === 'insert') changes.insert(cells(binding, event.newTuple), commit, part)
  else if (event.kind === 'update') changes.update(event.oldTuple === undefined ? undefined : cells(binding, event.oldTuple), cells(binding, event.newTuple), commit, event.oldKind === 'old', part)
  else changes.delete(cells(binding, event.oldTuple), commit, part)
}
