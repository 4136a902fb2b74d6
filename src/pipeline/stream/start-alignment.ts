/**
 * Before streaming: each table's binding is brought in line with what its destination table holds.
 * The catalog may be ahead of the stream (columns added, renamed or widened after the checkpoint,
 * a new key whose DDL the stream has yet to deliver): a table streams with the columns and key it
 * was streamed under, widened now where the catalog's type is wider, and the stream's Relation
 * messages (or audit rows) bring the rest in order. A type the destination cannot hold, changed
 * after the checkpoint, means a new copy (the stream alone would not show it). Also cleans up
 * copies beside tables that a stop or crash interrupted.
 */
import type { Destination } from '../../destination/destination.js'
import type { TableState } from '../../model/state.js'
import { META_COLUMNS, type TableTarget, type TypeMapping } from '../../model/table-binding.js'
import type { PendingChanges } from './pending-changes.js'

export interface AlignOptions {
  readonly destination: Destination
  readonly targets: readonly TableTarget[]
  readonly stateOf: (t: TableTarget) => TableState | undefined
  readonly pending: PendingChanges
  readonly dropColumns: boolean
}

/** Aligns every table; returns those that need a new copy, with the reason. */
export async function alignWithDestination(options: AlignOptions): Promise<Map<TableTarget, string>> {
  const { destination, targets, pending } = options
  const names = await destination.tableNames()
  const destinations = new Set(targets.map((t) => destination.nameKey(t.destSchema, t.destName)))
  for (const t of targets) {
    // Copies a stop or crash interrupted (of the table, or of a partition: `..._p<oid>`; those
    // still needed start again); never a table Inlet streams.
    const copy = destination.copyBeside(t)
    const prefix = destination.nameKey(copy.destSchema, copy.destName)
    for (const name of names) {
      if (destinations.has(name) || !(name === prefix || (name.startsWith(`${prefix}_p`) && /^\d+$/.test(name.slice(prefix.length + 2))))) continue
      await destination.dropTable({ ...copy, destName: `${copy.destName}${name.slice(prefix.length)}` })
    }
  }
  const copyAtStart = new Map<TableTarget, string>()
  for (const t of targets) {
    const have = await destination.columnTypes(t)
    if (have.size === 0) continue
    const reason = await alignTypes(destination, t, have)
    if (reason !== undefined) copyAtStart.set(t, reason)
    alignKeyAndColumns(t, have, options.stateOf(t), pending, destination.types)
  }
  if (options.dropColumns) {
    // Columns the source dropped while no batch could drop them (a stop or crash came first).
    for (const t of targets) {
      const streamed = pending.binding(t)
      const gone = [...(await destination.columnTypes(t)).keys()].filter((n) => !META_COLUMNS.has(n) && !streamed.columns.some((c) => c.name === n))
      if (gone.length > 0) await destination.dropColumns(t, gone)
    }
  }
  return copyAtStart
}

/** Widens columns whose source type is wider now; the reason for a new copy when one cannot hold it. */
async function alignTypes(destination: Destination, t: TableTarget, have: ReadonlyMap<string, string>): Promise<string | undefined> {
  let reason: string | undefined
  for (const c of t.columns) {
    const now = have.get(c.name)
    if (now === undefined || now === c.type.name) continue
    // Widened to text for a value its type could not hold: it takes every value as text.
    if (now === 'VARCHAR' && destination.capabilities.widensToText === true) continue
    if (destination.types.widens(now, c.type.name)) await destination.widenColumn(t, c)
    else if (!destination.types.widens(c.type.name, now)) reason = `${t.display}.${c.name} changed type in the source (now ${c.type.name}), which the destination's ${now} cannot hold in place.`
    // else a narrower source type is written into the wider column
  }
  return reason
}

function alignKeyAndColumns(t: TableTarget, have: ReadonlyMap<string, string>, state: TableState | undefined, pending: PendingChanges, types: TypeMapping): void {
  // The key the table was streamed under (the catalog may show a newer one, whose DDL the stream
  // has yet to deliver).
  const recorded = state?.columns ?? []
  const recordedKey = recorded.filter((r) => r.key === true && r.attnum !== undefined).map((r) => r.attnum as number)
  const keyNow = t.key.map((i) => t.columns[i]?.source.attnum ?? 0)
  const sameKey = recordedKey.length === keyNow.length && recordedKey.every((a) => keyNow.includes(a))
  if (recordedKey.length > 0 && !sameKey && recordedKey.every((a) => t.columns.some((c) => c.source.attnum === a))) {
    pending.of(t).target = { ...t, key: recordedKey.map((a) => t.columns.findIndex((c) => c.source.attnum === a)) }
  }
  // A column renamed in the source since keeps its destination name (by the attnum recorded), so
  // that the audit row of the rename is applied as one.
  const columns = t.columns.flatMap((c) => {
    if (have.has(c.name)) return [c]
    const was = recorded.find((r) => r.attnum !== undefined && r.attnum === c.source.attnum && have.has(r.name))
    return was === undefined ? [] : [{ ...c, name: was.name, source: { ...c.source, name: was.name } }]
  })
  // A column dropped in the source since (kept in the destination): the stream still has it until
  // its drop, so the table streams with it as recorded.
  for (const r of recorded) {
    if (r.source === undefined || !have.has(r.name) || columns.some((c) => c.name === r.name || c.source.attnum === r.attnum)) continue
    columns.push({ name: r.name, source: r.source, type: types.columnType(r.source) })
  }
  if (columns.length === t.columns.length && columns.every((c, i) => c === t.columns[i])) return
  const streamed = pending.binding(t)
  const keyNames = streamed.key.map((i) => {
    const c = streamed.columns[i]
    return columns.find((x) => x.source.attnum === c?.source.attnum)?.name
  })
  pending.of(t).target = { ...t, columns, key: keyNames.map((n) => columns.findIndex((c) => c.name === n)) }
}
