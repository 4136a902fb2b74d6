/**
 * Coalescing (TableChanges) against a straightforward reference model. Random change sequences
 * over a few keys — inserts, updates in place and moving the key, deletes, unchanged TOAST,
 * truncates, keyless duplicates — in transactions, drained at random points (also inside a
 * transaction, as a big transaction's partial flush is), are applied two ways:
 *   - the reference applies each change, one at a time, to the rows (SCD2: one version per key
 *     and transaction, closed at the next transaction that changes the key);
 *   - the staged rows are applied as the destination's set-based statements do (apply-sql.ts:
 *     TOAST lookups before the deletes, the first change of a key closing the current version,
 *     a version of the same transaction replaced, keyless closes matched oldest first).
 * The two must hold the same rows, and for SCD2 the same table at every point in time.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { Cell, ChangeCommit, Segment, StageRow } from '../src/model/change-set.js'
import type { TableTarget } from '../src/model/table-binding.js'
import { TableChanges } from '../src/pipeline/table-changes.js'
import { UNCHANGED_TOAST } from '../src/protocol/pgoutput/messages.js'
import { random } from './fuzz/generate.js'

type Row = (string | null)[]
interface Version {
  values: Row
  start: string
  end: string | null
  lsn: bigint
}
interface Shape {
  readonly name: string
  /** Key indexes into the columns; empty: keyless (REPLICA IDENTITY FULL). */
  readonly key: readonly number[]
  readonly full: boolean
}

const COLUMNS = ['a', 'b', 'v', 't']
const TOAST = 3

function target(shape: Shape, scd: 1 | 2): TableTarget {
  const columns = COLUMNS.map((name) => ({ name, source: { name, typeOid: 25, typeName: 'text', typmod: -1, notNull: false, attnum: 1 }, type: { name: 'VARCHAR' } }))
  return { sourceName: 's', table: { oid: 1, schema: 'public', name: 't', columns: [], key: [], replicaIdentity: 'd', heaps: [] }, destSchema: 'public', destName: 't', scd, columns, key: shape.key, excluded: [], display: 'public.t' } as unknown as TableTarget
}

type Change =
  | { kind: 'insert'; values: Row }
  | { kind: 'update'; old: Row; values: Cell[] }
  | { kind: 'delete'; old: Row }
  | { kind: 'truncate' }

/** Source tables and their changes: a few keys (or duplicate rows), so that keys come back and moves collide. */
function generate(shape: Shape, seed: number): { initial: Row[]; txns: Change[][] } {
  const rnd = random(seed)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T
  const text = () => pick(['x', 'y', 'z', null, `r${Math.floor(rnd() * 1000)}`])
  const keys = ['1', '2', '3']
  const keyless = shape.key.length === 0
  const newRow = (a: string, b: string): Row => [a, b, keyless ? pick(['p', 'q']) : text(), keyless ? pick(['big', 'huge']) : `toast${Math.floor(rnd() * 1000)}`]
  const rows: Row[] = []
  const keyOf = (r: Row) => shape.key.map((i) => r[i]).join('|')
  const free = () => {
    for (let i = 0; i < 10; i++) {
      const r = newRow(pick(keys), pick(keys))
      if (keyless || !rows.some((x) => keyOf(x) === keyOf(r))) return r
    }
    return undefined
  }
  for (let i = 0; i < 3; i++) {
    const r = free()
    if (r !== undefined) rows.push(r)
  }
  const initial = rows.map((r) => [...r])
  const txns: Change[][] = []
  for (let t = 0, n = 1 + Math.floor(rnd() * 5); t < n; t++) {
    const txn: Change[] = []
    for (let o = 0, m = 1 + Math.floor(rnd() * 4); o < m; o++) {
      const roll = rnd()
      const at = Math.floor(rnd() * rows.length)
      const existing = rows[at]
      if (roll < 0.05) {
        txn.push({ kind: 'truncate' })
        rows.length = 0
      } else if (roll < 0.35 || existing === undefined) {
        const r = free()
        if (r === undefined) continue
        rows.push(r)
        txn.push({ kind: 'insert', values: [...r] })
      } else if (roll < 0.8) {
        // In place, or (keyed, half the time) onto a free key; the TOAST column unchanged or not.
        const moved = !keyless && rnd() < 0.5 ? free() : undefined
        const next: Row = [...existing]
        if (moved !== undefined) for (const i of shape.key) next[i] = moved[i] as string
        next[2] = keyless ? pick(['p', 'q']) : text()
        const unchanged = rnd() < 0.5
        if (!unchanged) next[TOAST] = keyless ? pick(['big', 'huge']) : `toast${Math.floor(rnd() * 1000)}`
        const sent: Cell[] = [...next]
        if (unchanged) sent[TOAST] = UNCHANGED_TOAST
        txn.push({ kind: 'update', old: [...existing], values: sent })
        rows[at] = next
      } else {
        rows.splice(at, 1)
        txn.push({ kind: 'delete', old: [...existing] })
      }
    }
    if (txn.length > 0) txns.push(txn)
  }
  return { initial, txns }
}

const commitOf = (t: number): ChangeCommit => ({ lsn: String(1000 + t), ts: `ts${String(t).padStart(3, '0')}` })

/** The old tuple as pgoutput sends it: the whole row (FULL), the key alone ('K', when it moved), or none. */
function oldTuple(shape: Shape, old: Row, values: readonly Cell[]): Row | undefined {
  if (shape.full) return old
  const moved = shape.key.some((i) => old[i] !== values[i])
  return moved ? old.map((v, i) => (shape.key.includes(i) ? v : null)) : undefined
}

function feed(shape: Shape, scd: 1 | 2, txns: Change[][], cuts: Set<number>): Segment[][] {
  const changes = new TableChanges(target(shape, scd))
  const drains: Segment[][] = []
  let n = 0
  txns.forEach((txn, t) => {
    const commit = commitOf(t)
    for (const c of txn) {
      if (c.kind === 'insert') changes.insert([...c.values], commit)
      else if (c.kind === 'delete') changes.delete(shape.full ? [...c.old] : c.old.map((v, i) => (shape.key.includes(i) ? v : null)), commit)
      else if (c.kind === 'update') changes.update(oldTuple(shape, c.old, c.values), [...c.values], commit, shape.full)
      else changes.truncate(commit)
      if (cuts.has(++n)) drains.push(changes.drain())
    }
  })
  drains.push(changes.drain())
  return drains
}

// ---- the reference: one change at a time ---------------------------------------------------

function reference(shape: Shape, scd: 1 | 2, initial: Row[], txns: Change[][]): Version[] {
  const versions: Version[] = initial.map((values) => ({ values, start: 'ts-init', end: null, lsn: 0n }))
  const same = (a: Row, b: Row) => JSON.stringify(a) === JSON.stringify(b)
  const keyEq = (a: Row, b: Row) => (shape.key.length === 0 ? same(a, b) : shape.key.every((i) => a[i] === b[i]))
  txns.forEach((txn, t) => {
    const { ts, lsn } = commitOf(t)
    for (const c of txn) {
      if (c.kind === 'truncate') {
        for (const v of versions) if (v.end === null) v.end = ts
        continue
      }
      const removeOne = (old: Row): Row => {
        // The oldest current row with these values (keyless) or this key.
        const v = versions.find((x) => x.end === null && keyEq(x.values, old)) as Version
        v.end = ts
        return v.values
      }
      if (c.kind === 'insert') versions.push({ values: [...c.values], start: ts, end: null, lsn: BigInt(lsn) })
      else if (c.kind === 'delete') removeOne(c.old)
      else {
        const before = removeOne(c.old)
        versions.push({ values: c.values.map((v, i) => (v === UNCHANGED_TOAST ? (before[i] as string | null) : v)), start: ts, end: null, lsn: BigInt(lsn) })
      }
    }
  })
  const kept = versions.filter((v) => v.start !== v.end)
  return scd === 1 ? kept.filter((v) => v.end === null) : kept
}

// ---- the staged rows, applied as apply-sql.ts does -------------------------------------------

function applyStaged(shape: Shape, scd: 1 | 2, initial: Row[], drains: Segment[][]): Version[] {
  let versions: Version[] = initial.map((values) => ({ values: [...values], start: 'ts-init', end: null, lsn: 0n }))
  const keyOf = (r: readonly (string | null)[]) => JSON.stringify(shape.key.map((i) => r[i]))
  const lookupOf = (r: StageRow) => JSON.stringify(r.lookup)
  const current = () => versions.filter((v) => v.end === null)
  const resolve = (r: StageRow): Row => {
    const from = current().find((v) => keyOf(v.values) === lookupOf(r))
    return r.values.map((v, i) => (r.toast?.[i] === '1' ? (from?.values[i] ?? null) : v))
  }
  for (const segments of drains) {
    for (const seg of segments) {
      if (seg.kind === 'truncate') {
        if (scd === 1) versions = []
        else for (const v of current()) v.end = seg.commit.ts
        continue
      }
      assert.equal(seg.kind, 'rows')
      if (seg.kind !== 'rows') continue
      const rows = seg.rows
      const version = (r: StageRow, values: Row): Version => ({ values, start: r.ts ?? 'ts-none', end: r.end, lsn: BigInt(r.lsn ?? '0') })
      if (shape.key.length === 0) {
        if (scd === 1) {
          for (const r of rows.filter((x) => x.op === 'X')) for (let k = 0; k < r.n; k++) versions.splice(versions.findIndex((v) => JSON.stringify(v.values) === JSON.stringify(r.values)), 1)
          for (const r of rows.filter((x) => x.op === 'I')) for (let k = 0; k < r.n; k++) versions.push(version(r, [...r.values]))
          continue
        }
        const closes = rows.filter((x) => x.op === 'C')
        for (const group of new Set(closes.map((c) => c.group))) {
          const mine = closes.filter((c) => c.group === group).sort((x, y) => Number(BigInt(x.lsn as string) - BigInt(y.lsn as string)))
          const matching = current().filter((v) => JSON.stringify(v.values) === JSON.stringify(mine[0]?.values))
          mine.forEach((c, k) => {
            const v = matching[k]
            if (v !== undefined) v.end = c.ts
          })
        }
        for (const r of rows.filter((x) => x.op === 'V')) versions.push(version(r, [...r.values]))
        continue
      }
      const upsert = scd === 1 ? 'U' : 'V'
      const resolved = rows.filter((r) => r.op === upsert && r.toast !== null).map((r) => version(r, resolve(r)))
      if (scd === 1) {
        const keys = new Set(rows.map((r) => keyOf(r.values)))
        versions = versions.filter((v) => !keys.has(keyOf(v.values)))
      } else {
        const firsts = rows.filter((r) => r.first)
        versions = versions.filter((v) => !(v.end === null && firsts.some((r) => keyOf(r.values) === keyOf(v.values) && BigInt(r.lsn as string) === v.lsn)))
        for (const v of current()) {
          const r = firsts.find((x) => keyOf(x.values) === keyOf(v.values))
          if (r !== undefined) v.end = r.ts
        }
      }
      for (const r of rows.filter((x) => x.op === upsert && x.toast === null)) versions.push(version(r, [...r.values]))
      versions.push(...resolved)
    }
  }
  return versions.filter((v) => v.start !== v.end).map((v) => (scd === 1 ? { ...v, start: 'ts-init', end: null, lsn: 0n } : v))
}

/** The table as of time `at` (versions valid then), as a sorted multiset of rows. */
function asOf(versions: readonly Version[], at: string): string[] {
  return versions.filter((v) => v.start <= at && (v.end === null || at < v.end)).map((v) => JSON.stringify(v.values)).sort()
}

const SHAPES: Shape[] = [
  { name: 'one-column key', key: [0], full: false },
  { name: 'composite key declared (b, a)', key: [1, 0], full: false },
  { name: 'key with REPLICA IDENTITY FULL', key: [0], full: true },
  { name: 'keyless (FULL), duplicates', key: [], full: true },
]

describe('TableChanges against a reference model', () => {
  for (const shape of SHAPES) {
    for (const scd of [1, 2] as const) {
      test(`${shape.name}, SCD${scd}: 3000 random sequences`, () => {
        for (let seed = 1; seed <= 3000; seed++) {
          const { initial, txns } = generate(shape, seed * 7919 + scd)
          const rnd = random(seed)
          const total = txns.reduce((n, t) => n + t.length, 0)
          const cuts = new Set<number>()
          for (let i = 1; i <= total; i++) if (rnd() < 0.2) cuts.add(i)
          const want = reference(shape, scd, initial, txns)
          const got = applyStaged(shape, scd, initial, feed(shape, scd, txns, cuts))
          const context = () => `seed ${seed}: initial ${JSON.stringify(initial)}\n txns ${JSON.stringify(txns, (_, v: unknown) => (v === UNCHANGED_TOAST ? 'UNCHANGED' : v))}\n cuts ${[...cuts].join(',')}`
          if (scd === 1) {
            assert.deepEqual(asOf(got, 'ts~'), asOf(want, 'ts~'), context())
            continue
          }
          const times = ['ts-init', ...txns.map((_, t) => commitOf(t).ts), 'ts~']
          for (const at of times) assert.deepEqual(asOf(got, at), asOf(want, at), `as of ${at}, ${context()}`)
          if (shape.key.length > 0) {
            const exact = (vs: Version[]) => vs.map((v) => JSON.stringify([v.values, v.start, v.end])).sort()
            assert.deepEqual(exact(got), exact(want), `versions, ${context()}`)
          }
        }
      })
    }
  }
})
