/**
 * `npm run bench`, part three: the pipeline into Iceberg tables on a local S3 server (OpenStack
 * Swift's S3 API, as the tests start it; needs Debian's python3-swift) with the JDBC catalog in
 * PostgreSQL, side by side with its references in one run. Writes the "Pipeline: PostgreSQL →
 * Iceberg on S3" section of bench/RESULTS.md.
 *
 * 1. Snapshot of a 5,000,000-row table against psql's `COPY ... TO STDOUT` (floor 0.4×).
 * 2. End-to-end CDC of ~1,000,000 changes against the raw drain of the same slot (floor 0.25×).
 *    Both through the CLI as a user runs it (`inlet run --once`, process start to exit, peak RSS).
 * 3. Commit-to-visible latency (source commit to the catalog commit) at 5,000 changes/s, with the
 *    default 10-second commit interval (floor: interval + 2 s).
 */
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { resolveConfig } from '../src/config/load.js'
import { EmbeddedPostgres } from '../src/embedded/postgres-server.js'
import { runPipeline, type BatchSummary } from '../src/pipeline/run-pipeline.js'
import { PROJECT_ROOT } from '../scripts/project-root.js'
import { startS3 } from '../test/support/s3-server.js'
import { changes, ensurePostgresClient, median, rawDrain } from './support.js'

const RUNS = Number(process.env.INLET_BENCH_RUNS ?? 3)
const SNAPSHOT_ROWS = Number(process.env.INLET_BENCH_ICEBERG_ROWS ?? 5_000_000)
const TRANSACTIONS = Number(process.env.INLET_BENCH_TRANSACTIONS ?? 1000)
const LATENCY_SECONDS = Number(process.env.INLET_BENCH_ICEBERG_LATENCY_SECONDS ?? 60)
const INTERVAL_MS = 10_000
const ORDERS = `create table orders (id bigint primary key, customer_id int, status text, amount numeric(12,2), note text, payload jsonb, created_at timestamptz, updated_at timestamptz)`
// Random text, as users' rows hold (not repeated characters).
const ROW = (g: string) => `${g}, ${g} % 1000, 'new', (${g} % 10000) / 100.0, md5(${g}::text || random()::text) || md5(random()::text) || md5(random()::text), jsonb_build_object('k', ${g}, 'tags', jsonb_build_array('a', 'b')), now(), now()`


/**
 * `inlet run --once` as a user runs it, a process of its own: seconds from its start to its exit,
 * its peak RSS (through GNU time when installed) and the totals of its run.done line.
 */
function inletOnce(args: readonly string[]): Promise<{ seconds: number; rssMB: number; snapshotRows: number; changes: number }> {
  const time = existsSync('/usr/bin/time')
  const command = [process.execPath, join(PROJECT_ROOT, 'bin', 'inlet.js'), 'run', '--once', '--json', ...args]
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const child = time ? spawn('/usr/bin/time', ['-f', 'INLET_PEAK_RSS_KB %M', ...command], { stdio: ['ignore', 'ignore', 'pipe'] }) : spawn(command[0] as string, command.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] })
    let err = ''
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d))
    child.on('close', (code) => {
      const seconds = (performance.now() - started) / 1000
      if (code !== 0) return reject(new Error(`inlet run --once exited ${code}: ${err.slice(-1500)}`))
      const done = err.split('\n').filter((l) => l.includes('"event":"run.done"')).map((l) => JSON.parse(l) as { snapshotRows?: number; changes?: number })[0]
      const rss = /INLET_PEAK_RSS_KB (\d+)/.exec(err)?.[1]
      resolve({ seconds, rssMB: rss === undefined ? Number.NaN : Math.round(Number(rss) / 1024), snapshotRows: Number(done?.snapshotRows ?? Number.NaN), changes: Number(done?.changes ?? Number.NaN) })
    })
  })
}


const s3 = await startS3()
if (s3 === undefined) {
  console.log('Iceberg bench skipped: python3-swift is not installed (apt-get install -y --no-install-recommends python3-swift).')
  process.exit(0)
}
Object.assign(process.env, s3.env)
const dir = mkdtempSync(join(tmpdir(), 'inlet-bench-iceberg-'))
const psql = ensurePostgresClient('psql')
const server = await EmbeddedPostgres.start({ settings: { wal_level: 'logical', max_replication_slots: 20, max_wal_senders: 20, max_wal_size: '8GB', checkpoint_timeout: '30min', synchronous_commit: 'off', shared_buffers: '1GB' } })
const admin = new pg.Client(server.url('postgres'))
await admin.connect()
await admin.query('create database catalog')
const lines: string[] = []
let bucket = 0
// A catalog name per warehouse: its tables share names with the other runs' (public.orders).
const destination = (name: string) => `iceberg:s3://bench-${bucket}/${name}?mirror=${join(dir, `${name}-mirror`)}&catalog_name=${name}&catalog=${server.url('catalog')}`
try {
  // ---- 1. snapshot ----
  await admin.query('create database snap')
  const snapUrl = server.url('snap')
  const snap = new pg.Client(snapUrl)
  // Stopping the server below ends this connection: that must not hide the error that stopped the bench.
  snap.on('error', () => undefined)
  await snap.connect()
  await snap.query(ORDERS)
  console.log(`iceberg snapshot table: ${SNAPSHOT_ROWS} rows...`)
  await snap.query(`insert into orders select ${ROW('g')} from generate_series(1, ${SNAPSHOT_ROWS}) g`)
  await snap.query('vacuum analyze orders')
  await snap.query('create publication inlet_pub for table orders')
  const heapMB = Number((await snap.query<{ b: string }>(`select pg_relation_size('orders')::text as b`)).rows[0]?.b) / 1024 / 1024
  const psqlRates: number[] = []
  const inletRates: number[] = []
  const snapRss: number[] = []
  for (let r = 0; r < RUNS; r++) {
    if (psql) {
      const started = performance.now()
      execFileSync('bash', ['-c', `psql "$URL" -c "COPY orders TO STDOUT" > /dev/null`], { env: { ...process.env, URL: snapUrl } })
      psqlRates.push(SNAPSHOT_ROWS / ((performance.now() - started) / 1000))
    }
    bucket++
    await s3.createBucket(`bench-${bucket}`)
    const result = await inletOnce(['--source', snapUrl, '--destination', destination(`snap${r}`), '--slot', `bench_isnap_${r}`])
    const seconds = result.seconds
    if (result.snapshotRows !== SNAPSHOT_ROWS) throw new Error(`snapshot copied ${result.snapshotRows} rows`)
    inletRates.push(SNAPSHOT_ROWS / seconds)
    snapRss.push(result.rssMB)
    console.log(`  run ${r + 1}: psql ${psqlRates.at(-1)?.toFixed(0) ?? 'n/a'} rows/s, inlet → Iceberg on S3 ${inletRates.at(-1)?.toFixed(0)} rows/s (${seconds.toFixed(1)} s)`)
    await snap.query(`select pg_drop_replication_slot('bench_isnap_${r}')`)
  }
  await snap.end()
  const psqlRate = median(psqlRates)
  const inletSnap = median(inletRates)
  const ratio = psql ? inletSnap / psqlRate : Number.NaN
  lines.push(
    `### 1. Snapshot: ${SNAPSHOT_ROWS.toLocaleString('en')} rows (${heapMB.toFixed(0)} MB heap, random text) into Iceberg on S3`,
    '',
    '| reader | rows/s | × psql | peak RSS MB |',
    '|---|---|---|---|',
    `| psql \`COPY orders TO STDOUT\` → /dev/null | ${psql ? psqlRate.toFixed(0) : 'n/a'} | 1.00 | n/a |`,
    `| **inlet run --once** (mirror, Parquet by DuckDB, upload, catalog commit) | ${inletSnap.toFixed(0)} | ${psql ? ratio.toFixed(2) : 'n/a'} | ${median(snapRss)} |`,
    '',
    `Floor 0.4 × psql: **${psql ? ratio.toFixed(2) : 'n/a'}** ${psql ? (ratio >= 0.4 ? '(met)' : '(NOT met)') : ''}`,
    '',
  )

  // ---- 2. end-to-end CDC ----
  await admin.query('create database cdc')
  const cdcUrl = server.url('cdc')
  const cdc = new pg.Client(cdcUrl)
  cdc.on('error', () => undefined)
  await cdc.connect()
  const rawRates: number[] = []
  const e2eRates: number[] = []
  const cdcRss: number[] = []
  let expected = 0
  for (let r = 0; r < RUNS; r++) {
    await cdc.query('drop publication if exists inlet_pub')
    await cdc.query('drop table if exists orders')
    await cdc.query(ORDERS)
    await cdc.query(`insert into orders select ${ROW('g')} from generate_series(1, 100000) g`)
    await cdc.query('create publication inlet_pub for table orders')
    bucket++
    await s3.createBucket(`bench-${bucket}`)
    const cdcArgs = ['--source', cdcUrl, '--destination', destination(`cdc${r}`), '--slot', `bench_icdc_${r}`]
    await inletOnce(cdcArgs)
    await cdc.query(`select pg_create_logical_replication_slot('bench_iraw_${r}', 'pgoutput')`)
    console.log(`iceberg cdc run ${r + 1}: workload of ${TRANSACTIONS} transactions...`)
    expected = await changes(cdc, ROW, TRANSACTIONS, 10_000_000 * (r + 1))
    const raw = await rawDrain(cdcUrl, `bench_iraw_${r}`, expected)
    const result = await inletOnce(cdcArgs)
    if (result.changes !== expected) throw new Error(`inlet applied ${result.changes} of ${expected} changes`)
    rawRates.push(expected / raw.seconds)
    e2eRates.push(expected / result.seconds)
    cdcRss.push(result.rssMB)
    console.log(`  raw drain ${(expected / raw.seconds).toFixed(0)} changes/s, inlet → Iceberg ${e2eRates.at(-1)?.toFixed(0)} changes/s (process start to exit, all in the catalog)`)
    await cdc.query(`select pg_drop_replication_slot(s) from unnest(array['bench_iraw_${r}', 'bench_icdc_${r}']) s`)
  }
  const rawRate = median(rawRates)
  const e2eRate = median(e2eRates)
  lines.push(
    `### 2. End-to-end CDC: ${expected.toLocaleString('en')} changes in ${TRANSACTIONS} transactions, slot → visible in the catalog`,
    '',
    '| consumer | changes/s | × raw drain | peak RSS MB |',
    '|---|---|---|---|',
    `| raw drain of the same slot contents (framing only) | ${rawRate.toFixed(0)} | 1.00 | n/a |`,
    `| **inlet run --once** into Iceberg on S3 (mirror apply, position deletes + data files, upload, one catalog transaction per batch) | ${e2eRate.toFixed(0)} | ${(e2eRate / rawRate).toFixed(2)} | ${median(cdcRss)} |`,
    '',
    `Floor 0.25 × raw drain: **${(e2eRate / rawRate).toFixed(2)}** ${e2eRate / rawRate >= 0.25 ? '(met)' : '(NOT met)'}`,
    '',
  )

  // ---- 3. commit-to-visible latency at 5,000 changes/s ----
  bucket++
  await s3.createBucket(`bench-${bucket}`)
  await inletOnce(['--source', cdcUrl, '--destination', destination('latency'), '--slot', 'bench_ilatency'])
  // In process (the only run in it), to see each batch's commit: onBatch.
  const config = resolveConfig({}, { source: [cdcUrl], destination: destination('latency'), slot: 'bench_ilatency' }, {})
  const batches: BatchSummary[] = []
  const stop = new AbortController()
  const running = runPipeline({ config, signal: stop.signal, onBatch: (b) => batches.push({ ...b, applyMs: Date.now() }) })
  await new Promise((r) => setTimeout(r, 1000))
  const started = Date.now()
  let t = 0
  while (Date.now() - started < LATENCY_SECONDS * 1000) {
    await changes(cdc, ROW, 1, 50_000_000 + t * 60, 100)
    t++
    const wait = started + t * 20 - Date.now()
    if (wait > 0) await new Promise((r) => setTimeout(r, wait))
  }
  await new Promise((r) => setTimeout(r, INTERVAL_MS + 3000))
  stop.abort()
  await running
  await cdc.end()
  const latencies: number[] = []
  for (const b of batches) for (let i = 0; i < b.transactions; i++) latencies.push(b.applyMs - b.firstCommitTime / 1000)
  latencies.sort((a, b) => a - b)
  const p = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN
  const rate = (t * 100) / LATENCY_SECONDS
  const floor = INTERVAL_MS + 2000
  lines.push(
    `### 3. Commit-to-visible latency at ${rate.toFixed(0)} changes/s (${t} transactions of 100 changes over ${LATENCY_SECONDS} s), commit interval ${INTERVAL_MS / 1000} s`,
    '',
    `From the source commit timestamp to the catalog commit of the batch holding it (each transaction counted at its batch's oldest commit, an upper bound): p50 **${p(0.5).toFixed(0)} ms**, p99 **${p(0.99).toFixed(0)} ms**, max ${latencies.at(-1)?.toFixed(0)} ms, over ${batches.length} batches.`,
    '',
    `Floor p99 ≤ interval + 2 s (${floor} ms): ${p(0.99) <= floor ? '(met)' : '(NOT met)'}`,
    '',
  )
} catch (error) {
  console.error('Iceberg bench failed:', error)
  throw error
} finally {
  await admin.end()
  await server.stop()
  await s3.stop()
  rmSync(dir, { recursive: true, force: true })
}

const section = `## Pipeline: PostgreSQL → Iceberg on S3\n\nLatest run: ${new Date().toISOString().slice(0, 10)}, same machine and run conventions as above; median of ${RUNS} runs; a local S3 server (OpenStack Swift 2.30 with s3api, one replica, on the same 2 cores) and the JDBC catalog in the same PostgreSQL.\n\n${lines.join('\n')}`
const resultsFile = join(PROJECT_ROOT, 'bench', 'RESULTS.md')
const current = readFileSync(resultsFile, 'utf8')
const heading = '## Pipeline: PostgreSQL → Iceberg on S3'
const at = current.indexOf(heading)
const end = at < 0 ? -1 : current.indexOf('\n## ', at + 1)
const after = end < 0 ? '' : `\n${current.slice(end + 1).trimEnd()}\n`
writeFileSync(resultsFile, `${(at < 0 ? current : current.slice(0, at)).trimEnd()}\n\n${section.trimEnd()}\n${after}`)
console.log(section)
