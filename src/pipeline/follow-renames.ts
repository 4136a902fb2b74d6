/**
 * Tables renamed while no run streamed them, and tables gone from the source, at the start of a
 * session. A selected table whose name has no state but whose OID has one, under a name the
 * source no longer has, was renamed: it keeps its destination table and state instead of being
 * copied again. A table streamed before and gone now (dropped, or renamed out of the selection) is
 * bound from its record, so that the stream can apply its last changes and the drop.
 */
import type { ResolvedSource } from '../config/load.js'
import { matchesPattern } from '../config/table-pattern.js'
import type { Destination } from '../destination/destination.js'
import type { SourceColumn, SourceTable } from '../model/source-table.js'
import type { TableTarget } from '../model/table-binding.js'
import { key } from '../source/selection.js'
import type { SourcePlan } from './source-plan.js'
import { bindTarget } from './table-target.js'

export async function followRenames(plan: SourcePlan, destination: Destination, source: ResolvedSource): Promise<SourcePlan> {
  const states = await destination.readTables(source.name)
  const named = new Set(states.map((s) => key(s.sourceSchema, s.sourceTable)))
  const current = new Set(plan.targets.map((t) => key(t.table.schema, t.table.name)))
  let changed = false
  const targets: TableTarget[] = []
  for (const t of plan.targets) {
    // Renamed before (its state already follows it): it keeps the destination it had, unless the
    // config names one for it.
    const followed = states.find((s) => s.sourceSchema === t.table.schema && s.sourceTable === t.table.name && s.sourceOid === t.table.oid)
    const explicit = source.tableOptions.some((o) => matchesPattern(o.pattern, t.table.schema, t.table.name) && (o.destName !== undefined || o.destSchema !== undefined))
    if (followed !== undefined && !explicit && (followed.destSchema !== t.destSchema || followed.destTable !== t.destName)) {
      targets.push({ ...t, destSchema: followed.destSchema, destName: followed.destTable })
      changed = true
      continue
    }
    const state = named.has(key(t.table.schema, t.table.name)) ? undefined : states.find((s) => s.sourceOid === t.table.oid && !current.has(key(s.sourceSchema, s.sourceTable)))
    if (state === undefined || state.phase !== 'streaming') {
      targets.push(t)
      continue
    }
    await destination.followRename(state, t)
    targets.push({ ...t, destSchema: state.destSchema, destName: state.destTable })
    changed = true
  }
  const targetOids = new Set(targets.map((t) => t.table.oid))
  for (const state of states) {
    if (state.phase !== 'streaming' || state.sourceOid === undefined || targetOids.has(state.sourceOid) || current.has(key(state.sourceSchema, state.sourceTable))) continue
    if (!state.columns.every((c) => c.source !== undefined)) continue // recorded before columns carried their source
    const columns = state.columns.map((c) => c.source as SourceColumn)
    const table: SourceTable = { oid: state.sourceOid, schema: state.sourceSchema, name: state.sourceTable, columns, key: state.columns.filter((c) => c.key === true).map((c) => c.name), replicaIdentity: 'd', heaps: [] }
    const bound = bindTarget(source.name, table, { scd: state.scd, destSchema: state.destSchema, destName: state.destTable }, destination.types)
    targets.push({ ...bound, columns: state.columns.map((c) => ({ name: c.name, source: c.source as SourceColumn, type: destination.types.columnType(c.source as SourceColumn) })) })
    changed = true
  }
  if (!changed) return plan
  return { ...plan, targets }
}
