/**
 * Which planned table a change belongs to, by the relation's OID (the Relation message's id, a
 * leaf partition's own): a table keeps its identity through renames, and a table dropped and
 * created again under its name is another table. Also: admission by snapshot LSN (a table copied
 * at C takes changes of transactions committed at or after C), the tables dropped in the source,
 * and the adoption of relations the plan does not know (a new partition of a planned table, or a
 * table created or newly published that the selection takes).
 */
import type { TableTarget } from '../../model/table-binding.js'
import type { Lsn } from '../../protocol/lsn.js'
import { key } from '../../source/selection.js'

export class TableRouter {
  /** The planned tables and those adopted since. */
  readonly targets: TableTarget[] = []
  private readonly byOid = new Map<number, TableTarget>()
  /** Current `schema.name` of each planned table (and its partitions), for requests by name. */
  private readonly byName = new Map<string, TableTarget>()
  private readonly nameOf = new Map<number, string>()
  private readonly snapshotLsn = new Map<TableTarget, Lsn>()
  /** A leaf partition copied on its own (attached while streaming): its changes before this are in the copy. */
  private readonly partitionLsn = new Map<number, Lsn>()
  /** Relations seen that the selection leaves out (so the catalog is not asked again). */
  private readonly unselected = new Set<number>()
  private readonly dropped = new Set<TableTarget>()
  private readonly droppedOids = new Set<number>()

  constructor(targets: readonly TableTarget[], snapshotLsnOf: (t: TableTarget) => Lsn) {
    for (const t of targets) this.add(t, snapshotLsnOf(t))
  }

  /** A planned or adopted table, with the LSN its copy was taken at (0: it takes every change). */
  add(target: TableTarget, snapshotLsn: Lsn): void {
    this.targets.push(target)
    this.snapshotLsn.set(target, snapshotLsn)
    this.index(target.table.oid, target, target.table.schema, target.table.name)
    for (const heap of target.table.heaps) this.index(heap.oid, target, heap.schema, heap.name)
  }

  /** A relation (a new partition, say) whose changes land in `base`. */
  index(oid: number, base: TableTarget, schema: string, name: string): void {
    this.byOid.set(oid, base)
    this.named(oid, schema, name)
  }

  /** The relation's current name (Relation messages and DDL audit rows carry it); true when it changed. */
  named(oid: number, schema: string, name: string): boolean {
    const base = this.byOid.get(oid)
    if (base === undefined) return false
    const previous = this.nameOf.get(oid)
    const now = key(schema, name)
    if (previous === now) return false
    if (previous !== undefined && this.byName.get(previous) === base) this.byName.delete(previous)
    this.nameOf.set(oid, now)
    this.byName.set(now, base)
    return previous !== undefined
  }

  /** The planned table a relation's changes go to (undefined: not ours, or dropped). */
  route(oid: number): TableTarget | undefined {
    const base = this.byOid.get(oid)
    return base === undefined || this.dropped.has(base) ? undefined : base
  }

  byTableName(schema: string, name: string): TableTarget | undefined {
    const base = this.byName.get(key(schema, name))
    return base === undefined || this.dropped.has(base) ? undefined : base
  }

  /** Whether the relation is neither planned, nor known to be outside the selection, nor dropped. */
  unknown(oid: number): boolean {
    return !this.byOid.has(oid) && !this.unselected.has(oid) && !this.droppedOids.has(oid)
  }

  leaveOut(oid: number): void {
    this.unselected.add(oid)
  }

  /**
   * A transaction committed at `finalLsn` has changes for the table (not already in its copy, or
   * in the copy of the leaf partition `relation` when that was copied on its own).
   */
  admits(base: TableTarget, finalLsn: Lsn, relation?: number): boolean {
    return finalLsn >= (this.snapshotLsn.get(base) ?? 0n) && (relation === undefined || finalLsn >= (this.partitionLsn.get(relation) ?? 0n))
  }

  setSnapshotLsn(base: TableTarget, lsn: Lsn): void {
    this.snapshotLsn.set(base, lsn)
  }

  setPartitionLsn(relation: number, lsn: Lsn): void {
    this.partitionLsn.set(relation, lsn)
  }

  /** The leaf partitions routed to `base` (OIDs other than the table's own). */
  leaves(base: TableTarget): number[] {
    return [...this.byOid].filter(([oid, t]) => t === base && oid !== base.table.oid).map(([oid]) => oid)
  }

  /** A leaf partition detached or dropped: its changes no longer land in its table. */
  unroute(oid: number): void {
    const name = this.nameOf.get(oid)
    if (name !== undefined && this.byName.get(name) === this.byOid.get(oid)) this.byName.delete(name)
    this.byOid.delete(oid)
    this.nameOf.delete(oid)
    this.partitionLsn.delete(oid)
  }

  /** The source table was dropped: nothing more is routed to it, and its OIDs are never adopted. */
  drop(base: TableTarget): void {
    this.dropped.add(base)
    for (const [oid, t] of this.byOid) {
      if (t !== base) continue
      this.droppedOids.add(oid)
      this.byOid.delete(oid)
      const name = this.nameOf.get(oid)
      if (name !== undefined && this.byName.get(name) === base) this.byName.delete(name)
    }
  }

  isDropped(base: TableTarget): boolean {
    return this.dropped.has(base)
  }

  /** The planned table with that OID (the table's own or a partition's), dropped or not. */
  find(oid: number): TableTarget | undefined {
    return this.byOid.get(oid) ?? this.targets.find((t) => t.table.oid === oid || t.table.heaps.some((h) => h.oid === oid))
  }
}
