/**
 * A selected source table bound to its destination table: the destination name, SCD type, the
 * columns that land (after exclusions) with their destination types, and which of them form the key.
 * Also maps a pgoutput Relation's column order onto the destination's.
 */
import { InletError } from '../errors/inlet-error.js'
import type { SourceTable } from '../model/source-table.js'
import type { TableTarget, TargetColumn, TypeMapping } from '../model/table-binding.js'
import { displayName } from '../postgres/sql-text.js'
import type { Relation } from '../source/stream/stream-events.js'

export interface TableOptions {
  readonly destSchema?: string | undefined
  readonly destName?: string | undefined
  readonly scd: 1 | 2
  readonly excludeColumns?: readonly string[] | undefined
  /** The source's destination schema (config `destination_schema`), when it has one. */
  readonly schemaPrefix?: string | undefined
  /** Changes arrive under each leaf partition (no publish_via_partition_root): rows record theirs. */
  readonly leafChanges?: boolean | undefined
}

/** Where a source schema lands: itself, or under the source's destination schema (`public` → it, `s` → `<it>_s`). */
export function destinationSchemaOf(schema: string, prefix: string | undefined): string {
  if (prefix === undefined) return schema
  return schema === 'public' ? prefix : `${prefix}_${schema}`
}

export function bindTarget(sourceName: string, table: SourceTable, options: TableOptions, types: TypeMapping): TableTarget {
  const display = displayName(table.schema, table.name)
  const excluded = new Set(options.excludeColumns ?? [])
  for (const name of excluded) {
    if (!table.columns.some((c) => c.name === name)) {
      throw new InletError('INLET-C004', `exclude_columns names "${name}", which ${display} does not have (or does not publish).`, { fix: `Columns of ${display}: ${table.columns.map((c) => c.name).join(', ')}` })
    }
    if (table.key.includes(name)) throw new InletError('INLET-C004', `exclude_columns cannot exclude "${name}" of ${display}: it is part of the key that identifies rows.`)
  }
  const columns = table.columns.filter((c) => !excluded.has(c.name)).map((c) => ({ name: c.name, source: c, type: types.columnType(c) }))
  const key = table.key.map((k) => columns.findIndex((c) => c.name === k))
  if (key.some((i) => i < 0)) throw new InletError('INLET-S007', `The key of ${display} (${table.key.join(', ')}) is not among its published columns.`, { fix: 'Publish the key columns: ALTER PUBLICATION ... SET TABLE with a column list that includes them.' })
  const partitionColumn = table.partitioned === true && options.leafChanges === true
  return { sourceName, table, destSchema: options.destSchema ?? destinationSchemaOf(table.schema, options.schemaPrefix), destName: options.destName ?? table.name, scd: options.scd, columns, key, excluded: [...excluded], display, ...(partitionColumn ? { partitionColumn } : {}) }
}

/**
 * For each column of the relation, its index in the target's columns (-1: excluded). Fails when
 * the relation has a column the target does not know, or lacks one it has: the table's schema
 * changed since it was copied.
 */
export function relationColumnMap(target: TableTarget, relation: Relation): number[] {
  const map = relation.columns.map((c) => target.columns.findIndex((t) => t.name === c.name))
  // Excluded columns are source columns the target leaves out: expected, not new.
  const unknown = relation.columns.filter((c, i) => map[i] === -1 && !target.excluded.includes(c.name)).map((c) => c.name)
  const missing = target.columns.filter((t) => !relation.columns.some((c) => c.name === t.name)).map((t) => t.name)
  const retyped = relation.columns.filter((c, i) => {
    const index = map[i] as number
    return index >= 0 && c.typeOid !== (target.columns[index] as TargetColumn).source.typeOid
  })
  if (unknown.length > 0 || missing.length > 0 || retyped.length > 0) {
    const parts = [
      unknown.length > 0 ? `new columns ${unknown.join(', ')}` : '',
      missing.length > 0 ? `columns gone: ${missing.join(', ')}` : '',
      retyped.length > 0 ? `type changed: ${retyped.map((c) => c.name).join(', ')}` : '',
    ].filter((p) => p !== '')
    throw new InletError('INLET-S007', `The schema of ${target.display} changed while streaming (${parts.join('; ')}).`, {
      fix: `Copy the table again: inlet refresh ${target.display} (while no inlet run holds the destination), then rerun inlet run.`,
    })
  }
  return map
}
