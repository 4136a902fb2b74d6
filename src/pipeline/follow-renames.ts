/**
 * Tables renamed while no run streamed them (or while one did: its state keeps the old name until
 * here), and tables gone from the source, at the start of a session. A selected table whose OID
 * has a state under another name was renamed (two tables swapped by renames included): it keeps
 * its destination table and state instead of being copied again. A table streamed before and gone now (dropped, or renamed out of the selection) is
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
  const current = new Set(plan.targets.map((t) => key(t.table.schema, t.table.name)))
  let changed = false
  const targets: TableTarget[] = []
  for (const t of plan.targets) {
    // A table is its OID: the state recorded for this OID is this table's, under whatever name it
    // had (renamed, or two tables swapped by renames), and its destination table goes on with it
    // unless the config names one for it.
    const state = states.find((s) => s.sourceOid === t.table.oid && s.phase === 'streaming')
    if (state === undefined) {
      targets.push(t)
      continue
    }
    if (state.sourceSchema !== t.table.schema || state.sourceTable !== t.table.name) {
      await destination.followRename(state, t)
      changed = true
    }
    const explicit = source.tableOptions.some((o) => matchesPattern(o.pattern, t.table.schema, t.table.name) && (o.destName !== undefined || o.destSchema !== undefined))
    if (explicit || (state.destSchema === t.destSchema && state.destTable === t.destName)) {
      targets.push(t)
      continue
    }
    targets.push({ ...t, destSchema: state.destSchema, destName: state.destTable })
    changed = true
  }
  const targetOids = new Set(targets.map((t) => t.table.oid))
  for (const state of states) {
    if (state.phase !== 'streaming' || state.sourceOid === undefined || targetOids.has(state.sourceOid) || current.has(key(state.sourceSchema, state.sourceTable))) continue
    // A table skipped now (it cannot be followed) is not streamed from its record either.
    if (plan.skipped.some((s) => s.oid === state.sourceOid)) continue
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
