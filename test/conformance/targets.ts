/**
 * The destinations the conformance suite runs against: one entry per registered destination.
 * A new destination is a folder under src/destination/ plus one entry here; every file of
 * test/conformance/ then runs its cases on it.
 */
import { basename, join } from 'node:path'
import { after } from 'node:test'
import { startS3, type S3Server } from '../support/s3-server.js'
import { startServer, testMajors } from '../support/servers.js'
import { assertEqualTables, openDuck, type CompareOptions } from '../support/compare.js'
import { assertIcebergMatchesMirror } from '../support/iceberg-read.js'

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

/**
 * With INLET_TEST_S3_CONFORMANCE=1 (npm run test:s3) the suite runs on Iceberg tables on the local
 * S3 server too, found through the JDBC catalog in an embedded PostgreSQL of their own; a mirror
 * per destination beside the test's files.
 */
const lake = process.env.INLET_TEST_S3_CONFORMANCE === '1' ? await startLake() : undefined

async function startLake(): Promise<{ catalog: string }> {
  process.env.INLET_TEST_REQUIRE_S3 = '1'
  const s3 = (await startS3()) as S3Server
  Object.assign(process.env, s3.env)
  await s3.createBucket('conformance')
  const catalog = await startServer(testMajors().at(-1) as number)
  // Stopped once the file's tests are done: the servers would keep its process alive.
  after(async () => {
    await catalog.stop()
    await s3.stop()
  })
  return { catalog: catalog.url('postgres') }
}

// Every Iceberg commit of the suite finds its rows in the row index (row-index.ts) rather than falling back to a whole write.
process.env.INLET_TEST_STRICT_ROW_INDEX = '1'

const duckPath = (url: string) => url.slice('duckdb:'.length)
const s3Location = (url: string) => /^iceberg:(s3:\/\/[^?]+)/.exec(url)?.[1] as string
const s3Mirror = (url: string) => join(/[?&]mirror=([^&]+)/.exec(url)?.[1] as string, 'mirror.duckdb')
const warehouse = (url: string) => url.slice('iceberg:file://'.length).replace(/\?.*$/, '')
const mirror = (url: string) => join(warehouse(url), '_inlet', 'mirror.duckdb')

export const TARGETS: readonly ConformanceTarget[] = [
  {
    name: 'duckdb',
    url: (dir, name) => `duckdb:${join(dir, `${name}.duckdb`)}`,
    assertEqual: (url, tables) => assertEqualTables(duckPath(url), tables),
    render: (url, table, columns) => renderDuck(duckPath(url), table, columns),
    expected: (c) => [c[2], c[3]],
  },
  {
    // The mirror must equal the source, and ClickHouse's reading of the Iceberg tables the mirror.
    name: 'iceberg',
    url: (dir, name) => `iceberg:file://${join(dir, `${name}-lake`)}`,
    assertEqual: async (url, tables) => {
      await assertEqualTables(mirror(url), tables)
      await assertIcebergMatchesMirror(warehouse(url), mirror(url), tables.map((t) => t.destTable))
    },
    render: async (url, table, columns) => {
      await assertIcebergMatchesMirror(warehouse(url), mirror(url), [table])
      return renderDuck(mirror(url), table, columns)
    },
    expected: (c) => [c[2], c[3]],
  },
  ...(lake === undefined
    ? []
    : [
        {
          name: 'iceberg-s3',
          // A catalog name per destination: the suite's tables share names (public.t) across destinations.
          url: (dir: string, name: string) => `iceberg:s3://conformance/${basename(dir)}-${name}?mirror=${join(dir, `${name}-mirror`)}&catalog_name=${basename(dir)}-${name}&catalog=${lake.catalog}`,
          assertEqual: async (url: string, tables: ReadonlyArray<CompareOptions>) => {
            await assertEqualTables(s3Mirror(url), tables)
            await assertIcebergMatchesMirror(s3Location(url), s3Mirror(url), tables.map((t) => t.destTable))
          },
          render: async (url: string, table: string, columns: readonly string[]) => {
            await assertIcebergMatchesMirror(s3Location(url), s3Mirror(url), [table])
            return renderDuck(s3Mirror(url), table, columns)
          },
          expected: (c: readonly [string, string, string, string]) => [c[2], c[3]] as const,
        },
      ]),
]

/** The named columns of a table of a DuckDB file, rendered by DuckDB. */
async function renderDuck(path: string, table: string, columns: readonly string[]): Promise<RenderedColumns> {
  const { duck, close } = await openDuck(path)
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
}
