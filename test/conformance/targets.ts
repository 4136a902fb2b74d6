/**
 * The destinations the conformance suite runs against: one entry per registered destination.
 * A new destination is a folder under src/destination/ plus one entry here; every file of
 * test/conformance/ then runs its cases on it.
 */
import { join } from 'node:path'
import { assertEqualTables, openDuck, type CompareOptions } from '../support/compare.js'

/** A column as the destination holds it: its type and each row's value as the engine prints it. */
export interface RenderedColumns {
  readonly types: ReadonlyMap<string, string>
  /** Rows ordered by `id`; values as text (binary as \x hex, lists as JSON), NULL as null. */
  readonly rows: ReadonlyArray<Readonly<Record<string, string | number | bigint | boolean | null>>>
}

export interface ConformanceTarget {
  readonly name: string
  /** The destination URL for a new, empty destination in `dir`. */
  url(dir: string, name: string): string
  /** Differences between source tables and the destination's (throws with them). */
  assertEqual(url: string, tables: ReadonlyArray<CompareOptions>): Promise<void>
  /** The named columns of a destination table, with `id`, rendered by the engine (type round-trip). */
  render(url: string, table: string, columns: readonly string[]): Promise<RenderedColumns>
  /** The type and printed value this destination must hold for a type case (see conformance/types). */
  expected(typeCase: readonly [pgType: string, literal: string, duckdbType: string, duckdbValue: string]): readonly [type: string, value: string]
}

const duckPath = (url: string) => url.slice('duckdb:'.length)

export const TARGETS: readonly ConformanceTarget[] = [
  {
    name: 'duckdb',
    url: (dir, name) => `duckdb:${join(dir, `${name}.duckdb`)}`,
    assertEqual: (url, tables) => assertEqualTables(duckPath(url), tables),
    render: async (url, table, columns) => {
      const { duck, close } = await openDuck(duckPath(url))
      try {
        const described = (await (await duck.runAndReadAll(`DESCRIBE ${table}`)).getRowObjectsJS()) as Array<{ column_name: string; column_type: string }>
        const types = new Map(described.map((d) => [d.column_name, d.column_type]))
        const q = (c: string) => `"${c.replace(/"/g, '""')}"`
        const render = (c: string) => {
          const type = types.get(c) ?? ''
          if (type === 'BLOB') return `'\\x' || lower(hex(${q(c)}))`
          if (type.endsWith(']')) return `CAST(to_json(${q(c)}) AS VARCHAR)`
          return `CAST(${q(c)} AS VARCHAR)`
        }
        const select = columns.map((c) => `${render(c)} AS ${q(c)}`).join(', ')
        const rows = (await (await duck.runAndReadAll(`SELECT id, ${select} FROM ${table} ORDER BY id`)).getRowObjectsJS()) as RenderedColumns['rows']
        return { types, rows }
      } finally {
        close()
      }
    },
    expected: (c) => [c[2], c[3]],
  },
]
