/**
 * The changes held for the next batch, one TableChanges per planned table, under the binding each
 * table streams with now (schema changes evolve it; a swapped-in copy replaces it).
 */
import type { Segment } from '../../model/change-set.js'
import type { TableTarget } from '../../model/table-binding.js'
import { TableChanges } from '../table-changes.js'

export class PendingChanges {
  private readonly tables = new Map<TableTarget, TableChanges>()

  /** The table's changes; `base` is the planned table (the key), `.target` its current binding. */
  of(base: TableTarget): TableChanges {
    let c = this.tables.get(base)
    if (c === undefined) this.tables.set(base, (c = new TableChanges(base)))
    return c
  }

  /** The current binding of a planned table. */
  binding(base: TableTarget): TableTarget {
    return this.of(base).target
  }

  /** Takes every table's coalesced segments (those of `except` stay). */
  drain(except: ReadonlySet<TableTarget> = new Set()): Array<{ base: TableTarget; target: TableTarget; segments: Segment[] }> {
    const out: Array<{ base: TableTarget; target: TableTarget; segments: Segment[] }> = []
    for (const [base, c] of this.tables) if (!c.empty && !except.has(base)) out.push({ base, target: c.target, segments: c.drain() })
    return out
  }
}
