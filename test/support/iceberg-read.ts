/**
 * Reads Inlet's Iceberg tables with a real engine, ClickHouse in-process (chdb), and compares
 * them value by value with the local mirror the destination wrote them from: ClickHouse resolves
 * the snapshot (manifests, equality deletes, field ids) and writes the rows it sees as Parquet,
 * which DuckDB then compares with the mirror's rows cast as the Iceberg files hold them.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { Session } from 'chdb'
import { writtenType } from '../../src/destination/iceberg/iceberg-schema.js'
import { openDuck } from './compare.js'

let session: Session | undefined

/** The rows ClickHouse reads from the Iceberg table at `location`, as a Parquet file. */
export async function readWithClickHouse(location: string, into: string, columns = '*'): Promise<void> {
  // chdb's icebergLocal takes paths under its user_files_path, which stays the working directory.
  session ??= new Session(undefined, { connectionArgs: ['--user_files_path=/'] })
  const cwd = process.cwd()
  process.chdir('/')
  try {
    const result = await session.queryAsync(`SELECT ${columns} FROM ${tableFunction(location)} SETTINGS output_format_parquet_string_as_string = 0, date_time_overflow_behavior = 'saturate'`, { format: 'Parquet' })
    writeFileSync(into, result.bytes())
  } finally {
    process.chdir(cwd)
  }
}

/**
 * One aggregate over an Iceberg table as ClickHouse reads it, optionally at an earlier snapshot
 * (time travel); as TSV. The trivial-count shortcut is off: it gave wrong counts on older snapshots.
 */
export async function aggregateWithClickHouse(location: string, select: string, snapshotId?: number): Promise<string> {
  session ??= new Session(undefined, { connectionArgs: ['--user_files_path=/'] })
  const cwd = process.cwd()
  process.chdir('/')
  try {
    const at = snapshotId === undefined ? '' : `, iceberg_snapshot_id = ${snapshotId}`
    return (await session.queryAsync(`SELECT ${select} FROM ${tableFunction(location)} SETTINGS optimize_trivial_count_query = 0${at}`, { format: 'TSV' })).text().trim()
  } finally {
    process.chdir(cwd)
  }
}

const text = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`

/**
 * icebergLocal for a directory; icebergS3 for an s3:// location, through the endpoint and
 * credentials of the AWS variables the test set.
 */
function tableFunction(location: string): string {
  if (!location.startsWith('s3://')) return `icebergLocal(${text(relative('/', location))})`
  const endpoint = process.env.AWS_ENDPOINT_URL_S3 as string
  return `icebergS3(${text(`${endpoint}/${location.slice('s3://'.length)}/`)}, ${text(process.env.AWS_ACCESS_KEY_ID as string)}, ${text(process.env.AWS_SECRET_ACCESS_KEY as string)})`
}

const q = (name: string) => `"${name.replace(/"/g, '""')}"`

/** ClickHouse writes strings as binary here (its strings need not be UTF-8): read back per written type. */
function fromClickHouse(type: string, x: string): string {
  if (type.endsWith('[]')) return `list_transform(${x}, lambda e: ${fromClickHouse(type.slice(0, -2), 'e')})`
  if (type === 'VARCHAR') return `decode(${x})`
  // ClickHouse reads Iceberg's time as whole seconds since midnight (see mirrorForm).
  if (type === 'TIME') return `CAST(${x} AS BIGINT)`
  if (FLOATS.test(type)) return `CAST(CAST(${x} AS ${type}) AS VARCHAR)`
  return `CAST(${x} AS ${type})`
}

/** Floats compare by text: EXCEPT ALL holds -0.0 and 0.0 equal, the files must not. */
const FLOATS = /^(FLOAT|DOUBLE)$/

/**
 * The mirror's value as ClickHouse can give it back: times in whole seconds, and a NULL list as
 * an empty one (ClickHouse's arrays are never NULL).
 */
function mirrorForm(type: string, x: string): string {
  if (type.endsWith('[]')) return `coalesce(CAST(${x} AS ${type}), CAST([] AS ${type}))`
  if (type === 'TIME') return `CAST(floor(date_part('epoch', ${x})) AS BIGINT)`
  if (FLOATS.test(type)) return `CAST(CAST(${x} AS ${type}) AS VARCHAR)`
  return `CAST(${x} AS ${type})`
}

/** Throws with the differences when ClickHouse's view of any table differs from the mirror's. */
export async function assertIcebergMatchesMirror(warehouse: string, mirror: string, tables: readonly string[]): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'inlet-chdb-'))
  const { duck, close } = await openDuck(mirror)
  try {
    const problems: string[] = []
    for (const table of tables) {
      const [schema, name] = table.split('.') as [string, string]
      const file = join(dir, `${schema}.${name}.parquet`)
      const described = (await (await duck.runAndReadAll(`DESCRIBE ${q(schema)}.${q(name)}`)).getRowObjectsJS()) as Array<{ column_name: string; column_type: string }>
      // ClickHouse holds dates of 1900-2299 only (Date32, DateTime64) and fails on others: a date
      // or time column with values beyond is left out of the comparison (its values are DuckDB's
      // Parquet, as the DuckDB destination's are).
      const columns: typeof described = []
      for (const c of described) {
        const type = writtenType(c.column_type)
        if (!/^(DATE|TIMESTAMP)/.test(type)) columns.push(c)
        else {
          const depth = (type.match(/\[\]/g) ?? []).length
          let v = q(c.column_name)
          for (let i = 0; i < depth; i++) v = `unnest(${v})`
          const out = (await (await duck.runAndReadAll(`SELECT count(*) AS n FROM (SELECT ${v} AS v FROM ${q(schema)}.${q(name)}) WHERE CAST(v AS TIMESTAMP) < TIMESTAMP '1900-01-01' OR CAST(v AS TIMESTAMP) >= TIMESTAMP '2299-12-31'`)).getRowObjectsJS()) as Array<{ n: bigint }>
          if (Number(out[0]?.n) === 0) columns.push(c)
        }
      }
      if (process.env.INLET_DEBUG_CHDB === '1') console.error('chdb columns', columns.map((c) => c.column_name + ' ' + c.column_type).join(', '))
      await readWithClickHouse(`${warehouse}/${schema}/${name}`, file, columns.map((c) => `\`${c.column_name.replace(/`/g, '\\`')}\``).join(', '))
      const mine = columns.map((c) => `${mirrorForm(writtenType(c.column_type), q(c.column_name))} AS ${q(c.column_name)}`).join(', ')
      const theirs = columns.map((c) => `${fromClickHouse(writtenType(c.column_type), q(c.column_name))} AS ${q(c.column_name)}`).join(', ')
      const mirrorRows = `SELECT ${mine} FROM ${q(schema)}.${q(name)}`
      const iceberg = `SELECT ${theirs} FROM read_parquet('${file}')`
      for (const [label, a, b] of [['only in the mirror', mirrorRows, iceberg], ['only in Iceberg', iceberg, mirrorRows]] as const) {
        const rows = (await (await duck.runAndReadAll(`SELECT count(*) AS n FROM (${a} EXCEPT ALL ${b})`)).getRowObjectsJS()) as Array<{ n: bigint }>
        if (Number(rows[0]?.n) > 0) problems.push(`${table}: ${String(rows[0]?.n)} row(s) ${label}`)
      }
      if (problems.length > 0) {
        // Which columns: each compared alone.
        for (const c of columns) {
          const one = (sql: string) => `SELECT ${q(c.column_name)} FROM (${sql})`
          const rows = (await (await duck.runAndReadAll(`SELECT count(*) AS n FROM (${one(mirrorRows)} EXCEPT ALL ${one(iceberg)})`)).getRowObjectsJS()) as Array<{ n: bigint }>
          if (Number(rows[0]?.n) > 0) problems.push(`${table}.${c.column_name} (${c.column_type}): ${String(rows[0]?.n)} value(s) differ`)
          if (Number(rows[0]?.n) > 0 && process.env.INLET_DEBUG_CHDB === '1') {
            const raw = (await (await duck.runAndReadAll(`SELECT CAST(${q(c.column_name)} AS VARCHAR) AS v FROM read_parquet('${file}') LIMIT 3`)).getRowObjectsJS()) as unknown[]
            problems.push(`  ClickHouse's: ${JSON.stringify(raw)}`)
          }
        }
      }
    }
    if (problems.length > 0) throw new Error(`Iceberg tables (read by ClickHouse) differ from the mirror:\n${problems.join('\n')}`)
  } finally {
    close()
    rmSync(dir, { recursive: true, force: true })
  }
}
