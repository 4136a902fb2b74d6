/**
 * `npm run bench`, part two: the whole pipeline into DuckDB, side by side with its references, in
 * one run on one machine. Writes the "Pipeline" section of bench/RESULTS.md.
 *
 * 1. Snapshot of a 5,000,000-row table into DuckDB (committed in the file) against psql's
 *    `COPY ... TO STDOUT` into /dev/null.
 * 2. End-to-end CDC of ~1,000,000 changes (60% insert, 30% update, 10% delete) from the slot to
 *    committed in DuckDB, against the raw drain (framing only) of the same slot contents.
 * 3. Commit-to-queryable latency at a steady 5,000 changes/s.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { resolveConfig } from '../src/config/load.js'
import { defaultMemoryLimit } from '../src/config/memory-budget.js'
import { EmbeddedPostgres } from '../src/embedded/postgres-server.js'
import { runPipeline, type BatchSummary } from '../src/pipeline/run-pipeline.js'
import { PROJECT_ROOT } from '../scripts/project-root.js'
import { changes, ensurePostgresClient, median, rawDrain, takePeakRssMB } from './support.js'

const RUNS = Number(process.env.INLET_BENCH_RUNS ?? 3)
const SNAPSHOT_ROWS = Number(process.env.INLET_BENCH_SNAPSHOT_ROWS ?? 5_000_000)
const TRANSACTIONS = Number(process.env.INLET_BENCH_TRANSACTIONS ?? 1000)
const LATENCY_SECONDS = Number(process.env.INLET_BENCH_LATENCY_SECONDS ?? 20)
/** `memory_limit` of the runs (inlet.yaml's setting; unset: the default). */
const SETTINGS = process.env.INLET_BENCH_MEMORY_LIMIT === undefined ? {} : { memory_limit: process.env.INLET_BENCH_MEMORY_LIMIT }
const ORDERS = `create table orders (id bigint primary key, customer_id int, status text, amount numeric(12,2), note text, payload jsonb, created_at timestamptz, updated_at timestamptz)`
const ROW = (g: string) => `${g}, ${g} % 1000, 'new', (${g} % 10000) / 100.0, repeat('n', 100), jsonb_build_object('k', ${g}, 'tags', jsonb_build_array('a', 'b')), now(), now()`





/** A client whose connection errors are reported, not thrown from an event with no listener. */
function client(url: string): pg.Client {
  const c = new pg.Client(url)
  c.on('error', (error: Error & { code?: string }) => console.error(`bench client ${url.replace(/\/\/[^@]*@/, '//')}: ${error.code ?? ''} ${error.message}`))
  return c
}

const dir = mkdtempSync(join(tmpdir(), 'inlet-bench-'))
const psql = ensurePostgresClient('psql')
const server = await EmbeddedPostgres.start({ settings: { wal_level: 'logical', max_replication_slots: 20, max_wal_senders: 20, max_wal_size: '8GB', checkpoint_timeout: '30min', synchronous_commit: 'off', shared_buffers: '1GB' } })
const admin = client(server.url('postgres'))
await admin.connect()
const lines: string[] = []
try {
  // ---- 1. snapshot ----
  await admin.query('create database snap')
  const snapUrl = server.url('snap')
  const snap = client(snapUrl)
  await snap.connect()
  await snap.query(ORDERS)
  console.log(`snapshot table: ${SNAPSHOT_ROWS} rows...`)
  await snap.query(`insert into orders select ${ROW('g')} from generate_series(1, ${SNAPSHOT_ROWS}) g`)
  await snap.query('vacuum analyze orders')
  await snap.query('create publication inlet_pub for table orders')
  const heapMB = Number((await snap.query<{ b: string }>(`select pg_relation_size('orders')::text as b`)).rows[0]?.b) / 1024 / 1024
  await snap.query('select count(*) from orders') // warm cache
  const psqlRates: number[] = []
  const inletRates: number[] = []
  const snapRss: number[] = []
  for (let r = 0; r < RUNS; r++) {
    if (psql) {
      const started = performance.now()
      execFileSync('bash', ['-c', `psql "$URL" -c "COPY orders TO STDOUT" > /dev/null`], { env: { ...process.env, URL: snapUrl } })
      psqlRates.push(SNAPSHOT_ROWS / ((performance.now() - started) / 1000))
    }
    const file = join(dir, `snap-${r}.duckdb`)
    takePeakRssMB()
    const started = performance.now()
    const result = await runPipeline({ config: resolveConfig(SETTINGS, { source: [snapUrl], destination: `duckdb:${file}`, slot: `bench_snap_${r}` }, {}), once: true })
    const seconds = (performance.now() - started) / 1000
    if (result.snapshotRows !== SNAPSHOT_ROWS) throw new Error(`snapshot copied ${result.snapshotRows} rows`)
    inletRates.push(SNAPSHOT_ROWS / seconds)
    snapRss.push(takePeakRssMB())
    console.log(`  run ${r + 1}: psql ${psqlRates.at(-1)?.toFixed(0) ?? 'n/a'} rows/s, inlet ${inletRates.at(-1)?.toFixed(0)} rows/s (${seconds.toFixed(1)} s)`)
    await snap.query(`select pg_drop_replication_slot('bench_snap_${r}')`)
    rmSync(file, { force: true })
    rmSync(`${file}.wal`, { force: true })
  }
  await snap.end()
  const psqlRate = median(psqlRates)
  const inletSnap = median(inletRates)
  lines.push(
    `### 1. Snapshot: ${SNAPSHOT_ROWS.toLocaleString('en')} rows (${heapMB.toFixed(0)} MB heap) into DuckDB`,
    '',
    '| reader | rows/s | × psql | peak RSS MB |',
    '|---|---|---|---|',
    `| psql \`COPY orders TO STDOUT\` → /dev/null | ${psql ? psqlRate.toFixed(0) : 'n/a'} | 1.00 | n/a |`,
    `| **inlet run --once** (slot + exported snapshot, 2 COPY workers, committed in the DuckDB file) | ${inletSnap.toFixed(0)} | ${psql ? (inletSnap / psqlRate).toFixed(2) : 'n/a'} | ${median(snapRss)} |`,
    '',
    `Floor 0.5 × psql: **${psql ? (inletSnap / psqlRate).toFixed(2) : 'n/a'}** ${psql ? (inletSnap / psqlRate >= 0.5 ? '(met)' : '(NOT met)') : ''}`,
    '',
  )

  // ---- 2. end-to-end CDC ----
  await admin.query('create database cdc')
  const cdcUrl = server.url('cdc')
  const cdc = client(cdcUrl)
  await cdc.connect()
  const rawRates: number[] = []
  const e2eRates: number[] = []
  const wallRates: number[] = []
  const cdcRss: number[] = []
  let expected = 0
  for (let r = 0; r < RUNS; r++) {
    const file = join(dir, `cdc-${r}.duckdb`)
    // Each run starts from the same 100k rows: a table grown by the runs before would make later
    // runs slower whatever the code (measured: 82k, 46k, 45k changes/s at the default memory_limit).
    await cdc.query('drop publication if exists inlet_pub')
    await cdc.query('drop table if exists orders')
    await cdc.query(ORDERS)
    await cdc.query(`insert into orders select ${ROW('g')} from generate_series(1, 100000) g`)
    await cdc.query('create publication inlet_pub for table orders')
    const config = resolveConfig(SETTINGS, { source: [cdcUrl], destination: `duckdb:${file}`, slot: `bench_cdc_${r}` }, {})
    await runPipeline({ config, once: true }) // snapshot of the 100k starting rows
    await cdc.query(`select pg_create_logical_replication_slot('bench_raw_${r}', 'pgoutput')`)
    console.log(`cdc run ${r + 1}: workload of ${TRANSACTIONS} transactions...`)
    expected = await changes(cdc, ROW, TRANSACTIONS, 10_000_000 * (r + 1))
    const raw = await rawDrain(cdcUrl, `bench_raw_${r}`, expected)
    let queryable = 0
    takePeakRssMB()
    const started = performance.now()
    const result = await runPipeline({ config, once: true, onBatch: () => (queryable = performance.now()) })
    const seconds = (performance.now() - started) / 1000
    if (result.changes !== expected) throw new Error(`inlet applied ${result.changes} of ${expected} changes`)
    rawRates.push(expected / raw.seconds)
    e2eRates.push(expected / ((queryable - started) / 1000))
    wallRates.push(expected / seconds)
    cdcRss.push(takePeakRssMB())
    console.log(`  raw drain ${(expected / raw.seconds).toFixed(0)} changes/s, inlet into DuckDB ${e2eRates.at(-1)?.toFixed(0)} changes/s (queryable), ${wallRates.at(-1)?.toFixed(0)} with the exit checkpoint`)
    await cdc.query(`select pg_drop_replication_slot(s) from unnest(array['bench_raw_${r}', 'bench_cdc_${r}']) s`)
    rmSync(file, { force: true })
    rmSync(`${file}.wal`, { force: true })
  }
  const rawRate = median(rawRates)
  const e2eRate = median(e2eRates)
  lines.push(
    `### 2. End-to-end CDC: ${expected.toLocaleString('en')} changes in ${TRANSACTIONS} transactions, slot → committed in DuckDB`,
    '',
    '| consumer | changes/s | × raw drain | peak RSS MB |',
    '|---|---|---|---|',
    `| raw drain of the same slot contents (framing only) | ${rawRate.toFixed(0)} | 1.00 | n/a |`,
    `| **inlet run --once**, start to last batch committed (queryable, durable): decode, coalesce, CSV staging, DELETE+INSERT per batch, checkpoint LSN, ack | ${e2eRate.toFixed(0)} | ${(e2eRate / rawRate).toFixed(2)} | ${median(cdcRss)} |`,
    `| inlet run --once, start to exit (adds DuckDB's checkpoint of its WAL into the file at close) | ${median(wallRates).toFixed(0)} | ${(median(wallRates) / rawRate).toFixed(2)} | |`,
    '',
    `Floor 0.4 × raw drain: **${(e2eRate / rawRate).toFixed(2)}** ${e2eRate / rawRate >= 0.4 ? '(met)' : '(NOT met)'}`,
    '',
  )

  // ---- 3. latency at 5,000 changes/s ----
  const file = join(dir, 'latency.duckdb')
  const config = resolveConfig(SETTINGS, { source: [cdcUrl], destination: `duckdb:${file}`, slot: 'bench_latency' }, {})
  await runPipeline({ config, once: true })
  const batches: BatchSummary[] = []
  const stop = new AbortController()
  const running = runPipeline({ config, signal: stop.signal, onBatch: (b) => batches.push({ ...b, applyMs: Date.now() }) })
  await new Promise((r) => setTimeout(r, 1000))
  // 50 transactions of 100 changes a second.
  const started = Date.now()
  let t = 0
  while (Date.now() - started < LATENCY_SECONDS * 1000) {
    await changes(cdc, ROW, 1, 50_000_000 + t * 60, 100)
    t++
    const wait = started + t * 20 - Date.now()
    if (wait > 0) await new Promise((r) => setTimeout(r, wait))
  }
  await new Promise((r) => setTimeout(r, 1500))
  stop.abort()
  await running
  await cdc.end()
  // The oldest transaction of each batch waited longest: count each batch's transactions at that latency.
  const latencies: number[] = []
  for (const b of batches) for (let i = 0; i < b.transactions; i++) latencies.push(b.applyMs - b.firstCommitTime / 1000)
  latencies.sort((a, b) => a - b)
  const p = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN
  const rate = (t * 100) / LATENCY_SECONDS
  lines.push(
    `### 3. Commit-to-queryable latency at ${rate.toFixed(0)} changes/s (${t} transactions of 100 changes over ${LATENCY_SECONDS} s)`,
    '',
    `Measured from the source commit timestamp to the DuckDB commit of the batch holding it (each transaction counted at its batch's oldest commit, an upper bound): p50 **${p(0.5).toFixed(0)} ms**, p99 **${p(0.99).toFixed(0)} ms**, max ${latencies.at(-1)?.toFixed(0)} ms, over ${batches.length} batches.`,
    '',
    `Floor p99 < 1000 ms: ${p(0.99) < 1000 ? '(met)' : '(NOT met)'}`,
    '',
  )
} finally {
  await admin.end()
  await server.stop()
  rmSync(dir, { recursive: true, force: true })
}

const section = `## Pipeline: PostgreSQL → DuckDB\n\nLatest run: ${new Date().toISOString().slice(0, 10)}, same machine and run conventions as above; median of ${RUNS} runs; memory_limit ${SETTINGS.memory_limit ?? `default (${defaultMemoryLimit() / 1024 / 1024}MB)`}.\n\n${lines.join('\n')}`
const resultsFile = join(PROJECT_ROOT, 'bench', 'RESULTS.md')
const current = readFileSync(resultsFile, 'utf8')
const at = current.indexOf('## Pipeline: PostgreSQL → DuckDB')
// The section ends at the next heading of its level: notes written after it stay.
const end = at < 0 ? -1 : current.indexOf('\n## ', at + 1)
const after = end < 0 ? '' : `\n${current.slice(end + 1).trimEnd()}\n`
writeFileSync(resultsFile, `${(at < 0 ? current : current.slice(0, at)).trimEnd()}\n\n${section.trimEnd()}\n${after}`)
console.log(section)
