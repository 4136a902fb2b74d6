/**
 * The differential fuzzer's generator: from a seed, a round of random but legal work for a real
 * PostgreSQL. Table shapes users have (composite keys declared in any order, keyless tables with
 * duplicates, DEFERRABLE keys, identities USING INDEX, partitions, TOAST values, arrays, domains,
 * enums, NaN and bounded arrays) and a workload over them (transactions of any size up to past
 * logical_decoding_work_mem, savepoints rolled back, rollbacks, two sessions interleaved, DDL
 * between and inside transactions, truncates, partitions attached, detached and truncated), with
 * the ways a run meets it (one streaming run, runs between steps, SIGKILLs at random points).
 *
 * A round is plain data (JSON), so a failing one is printed, shrunk step by step and kept as a
 * regression. The SQL is generated from it here, deterministically.
 */

/** mulberry32: small, fast, and the same sequence for a seed on every machine. */
export function random(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export type ColumnKind = 'int' | 'bigint' | 'text' | 'toast' | 'numeric' | 'money' | 'bool' | 'ts' | 'date' | 'jsonb' | 'intarr' | 'textarr' | 'mood' | 'price' | 'bytea' | 'uuid'

export interface TableShape {
  readonly name: string
  /** Key columns k1..kn, declared in this order (not the columns' order). */
  readonly key: readonly string[]
  /** 'pk' primary key, 'deferrable' (with REPLICA IDENTITY FULL), 'index' (USING INDEX on a unique index), 'full' (no key, duplicates). */
  readonly identity: 'pk' | 'deferrable' | 'index' | 'full'
  readonly columns: ReadonlyArray<{ readonly name: string; readonly kind: ColumnKind }>
  /** Range-partitioned on k1, partitions of 1000 keys. */
  readonly partitioned: boolean
}

export type Op =
  | { readonly op: 'insert'; readonly table: string; readonly rows: number; readonly dup?: boolean }
  | { readonly op: 'update'; readonly table: string; readonly mod: number; readonly hit: number; readonly column: string }
  | { readonly op: 'update-key'; readonly table: string; readonly mod: number; readonly hit: number }
  | { readonly op: 'delete'; readonly table: string; readonly mod: number; readonly hit: number }
  | { readonly op: 'odd-values'; readonly table: string; readonly mod: number; readonly hit: number }
  | { readonly op: 'savepoint'; readonly ops: readonly Op[] }
  | { readonly op: 'add-column'; readonly table: string; readonly column: string; readonly kind: ColumnKind; readonly fill: boolean }
  | { readonly op: 'drop-column'; readonly table: string; readonly column: string }
  | { readonly op: 'rename-column'; readonly table: string; readonly column: string; readonly to: string }
  | { readonly op: 'widen-column'; readonly table: string; readonly column: string }
  | { readonly op: 'truncate'; readonly table: string }
  | { readonly op: 'attach'; readonly table: string; readonly partition: number; readonly rows: number }
  | { readonly op: 'detach'; readonly table: string; readonly partition: number }
  | { readonly op: 'truncate-partition'; readonly table: string; readonly partition: number }

export type Step =
  | { readonly step: 'txn'; readonly ops: readonly Op[]; readonly rollback: boolean }
  /** Two sessions: A begins and works, B works and commits, then A commits. */
  | { readonly step: 'interleaved'; readonly a: readonly Op[]; readonly b: readonly Op[] }
  /** A run of `inlet run --once` between steps (mode 'runs'), or a SIGKILL of a run after `ms` (mode 'kills'). */
  | { readonly step: 'sync'; readonly killAfterMs?: number }

export interface Round {
  readonly seed: number
  readonly scd: 1 | 2
  readonly ddlTracking: boolean
  /** 'stream': one run streams through the workload; 'runs': --once between steps; 'kills': CLI runs killed at random points. */
  readonly mode: 'stream' | 'runs' | 'kills'
  readonly tables: readonly TableShape[]
  readonly initialRows: number
  readonly steps: readonly Step[]
}

const KINDS: readonly ColumnKind[] = ['int', 'bigint', 'text', 'toast', 'numeric', 'money', 'bool', 'ts', 'date', 'jsonb', 'intarr', 'textarr', 'mood', 'price', 'bytea', 'uuid']

export function generateRound(seed: number, size: 'small' | 'large' = 'small'): Round {
  const r = random(seed)
  const pick = <T>(items: readonly T[]): T => items[Math.floor(r() * items.length)] as T
  const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1))
  const tables: TableShape[] = []
  const tableCount = int(1, 3)
  for (let t = 0; t < tableCount; t++) {
    const identity = pick(['pk', 'pk', 'pk', 'deferrable', 'index', 'full'] as const)
    const keyCount = identity === 'full' ? 1 : int(1, 3)
    const key = Array.from({ length: keyCount }, (_, i) => `k${i + 1}`)
    // Declared in another order than the columns, often.
    const declared = r() < 0.5 ? [...key].reverse() : key
    const columns = Array.from({ length: int(1, 5) }, (_, i) => ({ name: `c${i + 1}`, kind: pick(KINDS) }))
    tables.push({ name: `t${t + 1}`, key: declared, identity, columns, partitioned: identity !== 'deferrable' && r() < 0.2 })
  }
  const steps: Step[] = []
  const mode = pick(['stream', 'stream', 'runs', 'kills'] as const)
  const stepCount = size === 'small' ? int(3, 8) : int(10, 30)
  const nextColumn = new Map(tables.map((t) => [t.name, t.columns.length + 1]))
  const ops = (n: number, ddl: boolean): Op[] =>
    Array.from({ length: n }, (): Op => {
      const table = pick(tables)
      const roll = r()
      const mod = int(2, 9)
      const hit = int(0, mod - 1)
      const column = pick(table.columns).name
      if (roll < 0.3) return { op: 'insert', table: table.name, rows: r() < 0.1 ? int(500, size === 'small' ? 2000 : 20000) : int(1, 50), ...(table.identity === 'full' && r() < 0.5 ? { dup: true } : {}) }
      if (roll < 0.5) return { op: 'update', table: table.name, mod, hit, column }
      if (roll < 0.58 && !table.partitioned) return { op: 'update-key', table: table.name, mod, hit }
      if (roll < 0.7) return { op: 'delete', table: table.name, mod, hit }
      if (roll < 0.75) return { op: 'odd-values', table: table.name, mod, hit }
      if (roll < 0.82) return { op: 'savepoint', ops: ops(int(1, 3), false) }
      if (!ddl || roll < 0.86) return { op: 'update', table: table.name, mod, hit, column }
      if (roll < 0.9) {
        const n = nextColumn.get(table.name) ?? 1
        nextColumn.set(table.name, n + 1)
        return { op: 'add-column', table: table.name, column: `c${n}`, kind: pick(['int', 'text', 'numeric', 'bool', 'textarr'] as const), fill: r() < 0.5 }
      }
      if (roll < 0.92) return { op: 'rename-column', table: table.name, column, to: `${column}r` }
      if (roll < 0.94) return { op: 'drop-column', table: table.name, column }
      if (roll < 0.95) return { op: 'widen-column', table: table.name, column }
      if (roll < 0.965) return { op: 'truncate', table: table.name }
      if (table.partitioned) {
        const partition = int(0, 4)
        return pick([{ op: 'attach', table: table.name, partition: 10 + partition, rows: int(0, 30) }, { op: 'detach', table: table.name, partition }, { op: 'truncate-partition', table: table.name, partition }] as const)
      }
      return { op: 'delete', table: table.name, mod, hit }
    })
  for (let s = 0; s < stepCount; s++) {
    const roll = r()
    if (roll < 0.12) steps.push({ step: 'interleaved', a: ops(int(1, 3), false), b: ops(int(1, 3), false) })
    else if (roll < 0.25 && mode !== 'stream') steps.push({ step: 'sync', ...(mode === 'kills' ? { killAfterMs: int(0, 1500) } : {}) })
    else steps.push({ step: 'txn', ops: ops(int(1, 4), r() < 0.6), rollback: r() < 0.1 })
  }
  return { seed, scd: r() < 0.35 ? 2 : 1, ddlTracking: r() < 0.5, mode, tables, initialRows: int(0, 200), steps }
}
