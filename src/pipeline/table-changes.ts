/**
 * The changes of one destination table within a batch, coalesced in memory into the rows of a
 * staging table, so that the destination applies each batch with a few set-based statements.
 *
 * - SCD1 with a key: the last state per key (an upsert or a delete). An update that moves the key
 *   deletes the old key. Unchanged TOAST values are filled from an earlier change in the batch, or
 *   else looked up in the destination row (by the old key) when the batch is applied.
 * - SCD2 with a key: per key, one version per source transaction, each closed by the next; the
 *   first change of a key in the batch closes the destination's current version.
 * - No key (REPLICA IDENTITY FULL): rows are a multiset of identical values; a delete removes (or
 *   closes) exactly one matching row. SCD1 keeps the net count per distinct row; SCD2 keeps each
 *   opened and closed version.
 * - TRUNCATE splits the batch into segments applied in order.
 */
import { UNCHANGED_TOAST } from '../protocol/pgoutput/messages.js'
import type { Cell, ChangeCommit, Segment, StageRow } from '../model/change-set.js'
import type { SchemaChange } from '../model/schema-change.js'
import type { TableTarget } from '../model/table-binding.js'

/** The leaf partition (OID) a change came from, in tables that record it (else null). */
type Part = number | null

interface Keyed {
  op: 'U' | 'D'
  values: Cell[]
  lookup: Cell[] | undefined
  lsn: string
  part: Part
}

interface Version {
  op: 'V' | 'C'
  values: Cell[]
  lookup: Cell[] | undefined
  commit: ChangeCommit
  part: Part
}

interface Multiset {
  values: Cell[]
  part: Part
  net: number
  open: Array<{ commit: ChangeCommit }>
  done: Array<{ commit: ChangeCommit; end: ChangeCommit }>
  closes: ChangeCommit[]
}

export class TableChanges {
  private readonly segments: Segment[] = []
  private keyed = new Map<string, Keyed>()
  private chains = new Map<string, Version[]>()
  private multiset = new Map<string, Multiset>()
  /** Changes taken in since the last drain. */
  changes = 0
  /** Rough bytes held, for batch sizing. */
  bytes = 0

  constructor(public target: TableTarget) {}

  get empty(): boolean {
    return this.changes === 0
  }

  /** `part`: the leaf partition the change came from (tables with `partitionColumn`). */
  insert(values: Cell[], commit: ChangeCommit, part: Part = null): void {
    this.count(values)
    if (this.target.key.length === 0) return this.multisetAdd(values, commit, part)
    if (this.target.scd === 1) this.keyed.set(this.keyOf(values), { op: 'U', values, lookup: undefined, lsn: commit.lsn, part })
    else this.addVersion(this.keyOf(values), { op: 'V', values, lookup: undefined, commit, part })
  }

  /** `old`: the old key ('K') or the whole old row ('O', REPLICA IDENTITY FULL); absent when the key did not change. */
  update(old: Cell[] | undefined, values: Cell[], commit: ChangeCommit, oldIsFullRow: boolean, part: Part = null): void {
    this.count(values)
    if (old !== undefined && oldIsFullRow) fillFrom(values, old)
    if (this.target.key.length === 0) {
      if (old === undefined) throw new Error(`update without the old row on ${this.target.display}, which has no key`)
      this.multisetRemove(old, commit, part)
      this.multisetAdd(values, commit, part)
      return
    }
    const oldKey = this.keyOf(old ?? values)
    const newKey = this.keyOf(values)
    if (this.target.scd === 1) {
      let lookup: Cell[] | undefined
      if (values.includes(UNCHANGED_TOAST)) {
        const prev = this.keyed.get(oldKey)
        if (prev !== undefined && prev.op === 'U') {
          fillFrom(values, prev.values)
          lookup = prev.lookup
        } else lookup = this.keyValues(old ?? values)
        if (!values.includes(UNCHANGED_TOAST)) lookup = undefined
      }
      if (oldKey !== newKey) this.keyed.set(oldKey, { op: 'D', values: this.keyOnly(old ?? values), lookup: undefined, lsn: commit.lsn, part })
      this.keyed.set(newKey, { op: 'U', values, lookup, lsn: commit.lsn, part })
      return
    }
    let lookup: Cell[] | undefined
    if (values.includes(UNCHANGED_TOAST)) {
      const prev = this.chains.get(oldKey)?.at(-1)
      if (prev !== undefined && prev.op === 'V') {
        fillFrom(values, prev.values)
        lookup = prev.lookup
      } else lookup = this.keyValues(old ?? values)
      if (!values.includes(UNCHANGED_TOAST)) lookup = undefined
    }
    if (oldKey !== newKey) this.addVersion(oldKey, { op: 'C', values: this.keyOnly(old ?? values), lookup: undefined, commit, part })
    this.addVersion(newKey, { op: 'V', values, lookup, commit, part })
  }

  delete(old: Cell[], commit: ChangeCommit, part: Part = null): void {
    this.count(old)
    if (this.target.key.length === 0) return this.multisetRemove(old, commit, part)
    const key = this.keyOf(old)
    if (this.target.scd === 1) this.keyed.set(key, { op: 'D', values: this.keyOnly(old), lookup: undefined, lsn: commit.lsn, part })
    else this.addVersion(key, { op: 'C', values: this.keyOnly(old), lookup: undefined, commit, part })
  }

  /** The whole table, or with `partition` the rows of that leaf partition only. */
  truncate(commit: ChangeCommit, partition?: number): void {
    this.changes++
    this.closeSegment()
    this.segments.push(partition === undefined ? { kind: 'truncate', commit } : { kind: 'truncate', commit, partition })
  }

  /** A leaf partition left the table (detached, dropped): its rows go. */
  partitionGone(commit: ChangeCommit, partition: number): void {
    this.changes++
    this.closeSegment()
    this.segments.push({ kind: 'partition-gone', commit, partition })
  }

  /** The table's columns changed: changes so far keep the old layout, later ones take the new. */
  alter(change: SchemaChange): void {
    this.changes++
    this.closeSegment()
    this.segments.push({ kind: 'schema', change })
    this.target = change.target
  }

  /** The source table was dropped: what came before is applied, then the table is marked. */
  dropTable(): void {
    this.changes++
    this.closeSegment()
    this.segments.push({ kind: 'dropped' })
  }

  /** The coalesced segments, in order; the table starts empty again. */
  drain(): Segment[] {
    this.closeSegment()
    const out = this.segments.splice(0)
    this.changes = 0
    this.bytes = 0
    return out
  }

  private closeSegment(): void {
    const rows: StageRow[] = []
    for (const e of this.keyed.values()) {
      rows.push(stageRow(e.op, e.values, e.lookup, e.lsn, null, null, false, 1, 0, e.part))
    }
    for (const chain of this.chains.values()) {
      chain.forEach((v, i) => {
        if (v.op === 'C' && i > 0) return // closes the previous in-batch version: its `end`
        const next = chain[i + 1]
        rows.push(stageRow(v.op, v.values, v.lookup, v.commit.lsn, v.commit.ts, next?.commit.ts ?? null, i === 0, 1, 0, v.part))
      })
    }
    let group = 0
    for (const m of this.multiset.values()) {
      group++
      if (this.target.scd === 1) {
        if (m.net !== 0) rows.push(stageRow(m.net > 0 ? 'I' : 'X', m.values, undefined, null, null, null, false, Math.abs(m.net), group, m.part))
        continue
      }
      for (const c of m.closes) rows.push(stageRow('C', m.values, undefined, c.lsn, c.ts, null, true, 1, group, m.part))
      for (const o of m.open) rows.push(stageRow('V', m.values, undefined, o.commit.lsn, o.commit.ts, null, false, 1, group, m.part))
      for (const d of m.done) if (d.commit.lsn !== d.end.lsn) rows.push(stageRow('V', m.values, undefined, d.commit.lsn, d.commit.ts, d.end.ts, false, 1, group, m.part))
    }
    if (rows.length > 0) this.segments.push({ kind: 'rows', target: this.target, rows })
    this.keyed = new Map()
    this.chains = new Map()
    this.multiset = new Map()
  }

  private addVersion(key: string, version: Version): void {
    const chain = this.chains.get(key)
    if (chain === undefined) {
      this.chains.set(key, [version])
      return
    }
    const last = chain[chain.length - 1] as Version
    // One version per key and transaction: a later change in the same transaction replaces it.
    if (last.commit.lsn === version.commit.lsn) chain[chain.length - 1] = version
    else chain.push(version)
  }

  private multisetAdd(values: Cell[], commit: ChangeCommit, part: Part): void {
    const m = this.multisetEntry(values, part)
    m.net++
    if (this.target.scd === 2) m.open.push({ commit })
  }

  private multisetRemove(values: Cell[], commit: ChangeCommit, part: Part): void {
    const m = this.multisetEntry(values, part)
    m.net--
    if (this.target.scd !== 2) return
    const opened = m.open.shift()
    if (opened !== undefined) m.done.push({ commit: opened.commit, end: commit })
    else m.closes.push(commit)
  }

  private multisetEntry(values: Cell[], part: Part): Multiset {
    // (A row's partition is part of what identifies it: equal rows of two partitions are two rows.)
    const signature = part === null ? JSON.stringify(values) : `${part}:${JSON.stringify(values)}`
    let m = this.multiset.get(signature)
    if (m === undefined) {
      m = { values, part, net: 0, open: [], done: [], closes: [] }
      this.multiset.set(signature, m)
    }
    return m
  }

  private keyValues(values: readonly Cell[]): Cell[] {
    return this.target.key.map((i) => values[i] as Cell)
  }

  private keyOf(values: readonly Cell[]): string {
    const key = this.target.key
    // Key columns are NOT NULL and never unchanged TOAST (they are in every old key and new row).
    if (key.length === 1) return values[key[0] as number] as string
    return JSON.stringify(this.keyValues(values))
  }

  /** A row holding only the key values (what a delete stages). */
  private keyOnly(values: readonly Cell[]): Cell[] {
    const row: Cell[] = new Array<Cell>(values.length).fill(null)
    for (const i of this.target.key) row[i] = values[i] as Cell
    return row
  }

  private count(values: readonly Cell[]): void {
    this.changes++
    let bytes = 64
    for (const v of values) if (typeof v === 'string') bytes += v.length + 16
    this.bytes += bytes
  }
}

function fillFrom(values: Cell[], from: readonly Cell[]): void {
  for (let i = 0; i < values.length; i++) if (values[i] === UNCHANGED_TOAST) values[i] = from[i] as Cell
}

function stageRow(op: StageRow['op'], values: readonly Cell[], lookup: Cell[] | undefined, lsn: string | null, ts: string | null, end: string | null, first: boolean, n: number, group: number, part: Part): StageRow {
  if (!values.includes(UNCHANGED_TOAST)) return { op, values: values as readonly (string | null)[], toast: null, lookup: null, lsn, ts, end, first, n, group, part }
  const toast = values.map((v) => (v === UNCHANGED_TOAST ? '1' : '0')).join('')
  const plain = values.map((v) => (v === UNCHANGED_TOAST ? null : v))
  const key = lookup === undefined ? null : lookup.map((v) => (v === UNCHANGED_TOAST ? null : v))
  return { op, values: plain, toast, lookup: key, lsn, ts, end, first, n, group, part }
}
