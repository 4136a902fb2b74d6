/**
 * Operating a run: two source databases streamed by one `inlet run` into one DuckDB file (a
 * schema per source; the busy one under a workload, the idle one's slot advancing), `inlet status`,
 * `inlet query` and `inlet refresh` through the running run's local socket and then on the file,
 * Prometheus metrics and /healthz, the last error in status, failover slots (PG 17+), and a full
 * disk (a clear error, nothing confirmed that is not durable, equal after the next run).
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import pg from 'pg'
import { loadConfig, resolveConfig } from '../src/config/load.js'
import type { EmbeddedPostgres } from '../src/embedded/postgres-server.js'
import { InletError } from '../src/errors/inlet-error.js'
import { serveRun } from '../src/observability/run-api.js'
import type { StatusReport } from '../src/observability/status-report.js'
import { runPipeline } from '../src/pipeline/run-pipeline.js'
import { assertEqualTables, openDuck } from './support/compare.js'
import { captureLog, createDatabase, runCli, sql, startServer, testMajors } from './support/servers.js'

const newest = testMajors().at(-1) as number

for (const major of testMajors()) describe(`operations (PostgreSQL ${major})`, () => {
  let server: EmbeddedPostgres
  let dir: string
  before(async () => {
    server = await startServer(major)
    dir = mkdtempSync(join(tmpdir(), 'inlet-ops-'))
    // Both databases have a table named orders: they land in schemas of their own.
    await createDatabase(server, 'shop', `create table orders (id int primary key, qty int, note text); insert into orders select g, 0, 'n' || g from generate_series(1, 2000) g; create publication inlet_pub for table orders;`)
    await createDatabase(server, 'billing', `create table orders (id int primary key, amount numeric(12,2)); insert into orders select g, g * 1.5 from generate_series(1, 300) g; create publication inlet_pub for table orders;`)
  })
  after(async () => {
    await server?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  const waitFor = async (what: () => boolean | Promise<boolean>, ms: number, explain: () => string) => {
    for (let i = 0; i < ms / 100 && !(await what()); i++) await new Promise((r) => setTimeout(r, 100))
    assert.ok(await what(), explain())
  }

  test('two databases in one run; status, query, refresh and metrics while it streams; then on the file', async () => {
    const destination = join(dir, 'lake.duckdb')
    const configFile = join(dir, 'two.yaml')
    writeFileSync(configFile, `destination: duckdb:${destination}\nsources:\n  - url: ${server.url('shop')}\n  - url: ${server.url('billing')}\n`)
    const config = loadConfig({ config: configFile })
    assert.deepEqual(config.sources.map((s) => [s.name, s.slot, s.destinationSchema]), [['shop', 'inlet_shop', 'shop'], ['billing', 'inlet_billing', 'billing']])
    const { log, lines } = captureLog()
    const stop = new AbortController()
    const port = 19_000 + (process.pid % 1000) + major
    const running = runPipeline({ config, signal: stop.signal, log, serve: (d, m) => serveRun(config, d, m, { log, metrics: { host: '127.0.0.1', port } }) })
    let working = true
    let n = 0
    const writing = (async () => {
      const c = new pg.Client(server.url('shop'))
      await c.connect()
      while (working) {
        n++
        await c.query(`update orders set qty = qty + 1 where id = ${1 + (n % 2000)}; insert into orders values (${10_000 + n}, ${n}, 'w'); delete from orders where id = ${10_000 + n - 5}`)
      }
      await c.end()
    })()
    const cli = (args: string[]) => runCli([...args, '--config', configFile])
    try {
      await waitFor(() => lines.filter((l) => l.includes('"stream.start"')).length === 2, 30_000, () => lines.join(''))
      const [idleBefore] = await sql<{ lsn: string }>(server, 'postgres', `select confirmed_flush_lsn::text as lsn from pg_replication_slots where slot_name = 'inlet_billing'`)
      await new Promise((r) => setTimeout(r, 2500))

      // Status through the run's socket: both sources streaming, the busy table's changes counted.
      const status = await cli(['status', '--json'])
      assert.equal(status.code, 0, status.stderr)
      const report = JSON.parse(status.stdout) as StatusReport
      assert.equal(report.run?.pid, process.pid)
      assert.deepEqual(report.sources.map((s) => [s.source, s.phase]), [['shop', 'streaming'], ['billing', 'streaming']])
      const shop = report.sources[0]
      assert.deepEqual(shop?.tables.map((t) => [t.table, t.destination, t.phase]), [['public.orders', 'shop.orders', 'streaming']])
      assert.ok((shop?.tables[0]?.applied?.insert ?? 0) > 0 && (shop?.tables[0]?.applied?.update ?? 0) > 0, status.stdout)
      assert.ok(shop?.tables[0]?.lastCommitTime !== null, status.stdout)
      assert.deepEqual(report.sources[1]?.tables.map((t) => [t.table, t.destination, t.rows]), [['public.orders', 'billing.orders', 300]])
      const text = await cli(['status'])
      assert.match(text.stdout, /inlet run PID \d+[\s\S]*Source shop · slot inlet_shop · streaming[\s\S]*public\.orders → shop\.orders +streaming/)

      // A second run on the held file: a clear error naming the holder, nothing written.
      const second = await cli(['run', '--once'])
      assert.equal(second.code, 1, second.stderr)
      assert.match(second.stderr, new RegExp(`INLET-D001: The destination .*lake\\.duckdb is held by another process \\(.*PID ${process.pid}\\)[\\s\\S]*fix: DuckDB allows one writing process per file`))

      // Read-only SQL while the run holds the file; anything that writes is refused.
      const query = await runCli(['query', '--destination', `duckdb:${destination}`, '--json', 'SELECT count(*) AS n, sum(amount) AS total FROM billing.orders'])
      assert.equal(query.code, 0, query.stderr)
      assert.deepEqual((JSON.parse(query.stdout) as { rows: unknown[] }).rows, [{ n: '300', total: '67725.00' }])
      const refused = await runCli(['query', '--destination', `duckdb:${destination}`, 'DELETE FROM billing.orders'])
      assert.equal(refused.code, 1)
      assert.match(refused.stderr, /INLET-D005: inlet query only reads[\s\S]*DELETE/)
      // EXPLAIN ANALYZE runs its statement: refused unless it explains a SELECT (the final
      // comparison would see the rows gone).
      const analyze = await runCli(['query', '--destination', `duckdb:${destination}`, 'EXPLAIN ANALYZE DELETE FROM billing.orders'])
      assert.equal(analyze.code, 1)
      assert.match(analyze.stderr, /INLET-D005: .*explains SELECT statements only/)
      const two = await runCli(['query', '--destination', `duckdb:${destination}`, 'SELECT 1; SELECT 2'])
      assert.match(two.stderr, /INLET-D005: inlet query runs exactly one statement/)

      // Metrics and health.
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
      const applied = Number(/inlet_changes_applied_total\{source="shop",table="public.orders",operation="insert"\} (\d+)/.exec(metrics)?.[1])
      assert.ok(applied > 0, metrics)
      assert.match(metrics, /inlet_slot_retained_wal_bytes\{source="billing",slot="inlet_billing"\} \d+/)
      assert.match(metrics, /inlet_slot_status\{source="shop",slot="inlet_shop",wal_status="reserved"\} 1/)
      assert.match(metrics, /inlet_batch_apply_seconds_count\{source="shop"\} [1-9]/)
      assert.match(metrics, /inlet_lag_bytes\{source="shop"\} \d+/)
      assert.doesNotMatch(metrics, /password|secret/i)
      const health = await fetch(`http://127.0.0.1:${port}/healthz`)
      assert.equal(health.status, 200)

      // A refresh through the socket (any PostgreSQL version), named with its source.
      const refresh = await cli(['refresh', 'shop:public.orders'])
      assert.equal(refresh.code, 0, refresh.stderr)
      const ambiguous = await cli(['refresh', 'public.orders'])
      assert.match(ambiguous.stderr, /several sources \(shop, billing\)[\s\S]*inlet refresh shop:public.orders/)
      await waitFor(() => lines.some((l) => l.includes('"refresh.done"') && l.includes('"source":"shop"')), 60_000, () => lines.join(''))

      // The idle database's slot moved on with the WAL the busy one wrote.
      await waitFor(
        async () => {
          const [now] = await sql<{ moved: boolean }>(server, 'postgres', `select confirmed_flush_lsn > $1::pg_lsn as moved from pg_replication_slots where slot_name = 'inlet_billing'`, [idleBefore?.lsn])
          return now?.moved === true
        },
        10_000,
        () => 'the idle slot did not advance',
      )
    } finally {
      working = false
      await writing
      stop.abort()
      await running
    }
    assert.ok(!lines.some((l) => /"level":"warn"/.test(l) && !l.includes('"refresh.begin"')), lines.filter((l) => l.includes('"warn"')).join(''))
    await runPipeline({ config, once: true })
    await assertEqualTables(destination, [
      { sourceUrl: server.url('shop'), sourceTable: 'public.orders', destTable: 'shop.orders' },
      { sourceUrl: server.url('billing'), sourceTable: 'public.orders', destTable: 'billing.orders' },
    ])

    // No run: status and query read the file.
    const status = await cli(['status', '--json'])
    assert.equal(status.code, 0, status.stderr)
    const report = JSON.parse(status.stdout) as StatusReport
    assert.equal(report.run, null)
    const [count] = await sql<{ n: string }>(server, 'shop', 'select count(*)::text as n from orders')
    assert.deepEqual(report.sources[0]?.tables.map((t) => [t.destination, t.phase, t.rows]), [['shop.orders', 'streaming', Number(count?.n)]])
    assert.equal(report.sources[0]?.lastError, null)
    const query = await runCli(['query', '--destination', `duckdb:${destination}`, 'SELECT count(*) AS n FROM shop.orders'])
    assert.equal(query.code, 0, query.stderr)
    assert.match(query.stdout, new RegExp(`^n\\s*\\n-+\\n${count?.n}\\n`))

    // The file alone: its sources are where their runs recorded them (no password recorded).
    const home = mkdtempSync(join(tmpdir(), 'inlet-ops-home-'))
    const alone = await runCli(['status', '--json', '--destination', `duckdb:${destination}`], { HOME: home, PGPASSWORD: server.password })
    assert.equal(alone.code, 0, alone.stderr)
    const fromFile = JSON.parse(alone.stdout) as StatusReport
    assert.deepEqual(fromFile.sources.map((s) => [s.source, s.slot, s.slotError, s.slotStatus?.walStatus, s.lagBytes !== null]), [['billing', 'inlet_billing', null, 'reserved', true], ['shop', 'inlet_shop', null, 'reserved', true]])
    assert.deepEqual(fromFile.sources.map((s) => s.tables.map((t) => [t.destination, t.rows])), [...report.sources].reverse().map((s) => s.tables.map((t) => [t.destination, t.rows])))
    // Without the credentials: the destination's side still, the slot's figures said to be unread and why.
    const noPassword = await runCli(['status', '--destination', `duckdb:${destination}`], { HOME: home })
    assert.equal(noPassword.code, 0, noPassword.stderr)
    assert.match(noPassword.stdout, /Source shop · slot inlet_shop\n  slot: not read: INLET-N002: .*PGPASSWORD/)
    assert.match(noPassword.stdout, /shop\.orders +streaming, \d+ rows/)
    assert.doesNotMatch(noPassword.stdout, /lag /)
    assert.ok(!(alone.stdout + noPassword.stdout).includes(server.password))
    ;(await openDuck(join(dir, 'none.duckdb'))).close()
    const empty = await runCli(['status', '--destination', `duckdb:${join(dir, 'none.duckdb')}`], { HOME: home })
    assert.equal(empty.code, 2, empty.stderr)
    assert.match(empty.stderr, /INLET-C006: .*none\.duckdb holds no source yet/)
  })

  test('the error that stopped a run is in status, with its code, until a run checkpoints again', async () => {
    const destination = join(dir, 'error.duckdb')
    const config = resolveConfig({}, { source: [server.url('billing')], destination: `duckdb:${destination}`, slot: 'inlet_err' }, {})
    await runPipeline({ config, once: true })
    await sql(server, 'billing', `set synchronous_commit = on; insert into orders values (100001, 1)`)
    // Another consumer moves the slot past the checkpoint: the next run refuses (S008).
    await sql(server, 'billing', `select pg_replication_slot_advance('inlet_err', pg_current_wal_lsn())`)
    await assert.rejects(runPipeline({ config, once: true }), (e: unknown) => e instanceof InletError && e.code === 'INLET-S008')
    const status = await runCli(['status', '--json', '--source', server.url('billing'), '--destination', `duckdb:${destination}`, '--slot', 'inlet_err'])
    const report = JSON.parse(status.stdout) as StatusReport
    assert.equal(report.sources[0]?.lastError?.code, 'INLET-S008')
    const text = await runCli(['status', '--source', server.url('billing'), '--destination', `duckdb:${destination}`, '--slot', 'inlet_err'])
    assert.match(text.stdout, /last error: INLET-S008 at /)
    await runPipeline({ config, once: true, resync: true })
    await assertEqualTables(destination, [{ sourceUrl: server.url('billing'), sourceTable: 'public.orders', destTable: 'public.orders' }])
    await sql(server, 'billing', `insert into orders values (100002, 2)`)
    await runPipeline({ config, once: true })
    const cleared = await runCli(['status', '--json', '--source', server.url('billing'), '--destination', `duckdb:${destination}`, '--slot', 'inlet_err'])
    assert.equal((JSON.parse(cleared.stdout) as StatusReport).sources[0]?.lastError, null, cleared.stdout)
  })

  test('failover: true makes a failover slot (PG 17+) and doctor checks synchronized_standby_slots; refused before 17', async () => {
    const destination = join(dir, 'failover.duckdb')
    const configFile = join(dir, 'failover.yaml')
    writeFileSync(configFile, `destination: duckdb:${destination}\nsources:\n  - url: ${server.url('billing')}\n    slot: inlet_failover\n    failover: true\n`)
    if (major < 17) {
      const doctor = await runCli(['doctor', '--config', configFile, '--json'])
      assert.equal(doctor.code, 1, doctor.stdout)
      assert.match(doctor.stdout, /FAILOVER_UNSUPPORTED/)
      await assert.rejects(runPipeline({ config: loadConfig({ config: configFile }), once: true }), (e: unknown) => e instanceof InletError && e.code === 'INLET-C007' && /17 or later/.test(e.message))
      return
    }
    // An existing slot without failover is altered at start.
    await sql(server, 'billing', `select pg_create_logical_replication_slot('inlet_failover', 'pgoutput')`)
    const doctor = await runCli(['doctor', '--config', configFile, '--json'])
    const findings = (JSON.parse(doctor.stdout) as { sources: Array<{ findings: Array<{ code: string; fix?: string }> }> }).sources[0]?.findings ?? []
    assert.ok(findings.some((f) => f.code === 'SLOT_NOT_FAILOVER' && /ALTER_REPLICATION_SLOT inlet_failover \(FAILOVER true\)/.test(f.fix ?? '')), doctor.stdout)
    assert.ok(findings.some((f) => f.code === 'STANDBY_SLOTS_UNSET' && /synchronized_standby_slots/.test(f.fix ?? '')), doctor.stdout)
    await runPipeline({ config: loadConfig({ config: configFile }), once: true })
    const [slot] = await sql<{ failover: boolean }>(server, 'postgres', `select failover from pg_replication_slots where slot_name = 'inlet_failover'`)
    assert.equal(slot?.failover, true)
    const after = await runCli(['doctor', '--config', configFile, '--json'])
    assert.ok(!after.stdout.includes('SLOT_NOT_FAILOVER'), after.stdout)
  })

  test('a full disk stops the run with a clear error; nothing unconfirmed is lost and the next run is equal', { skip: (major !== newest && 'once, on the newest major') || (process.getuid?.() !== 0 && 'mounting a small tmpfs needs root') }, async () => {
    const mount = join(dir, `small`)
    mkdirSync(mount)
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=12m', 'tmpfs', mount])
    try {
      const destination = join(mount, 'lake.duckdb')
      await createDatabase(server, 'big', `create table docs (id int primary key, body text); insert into docs values (1, 'x'); create publication inlet_pub for table docs;`)
      const config = resolveConfig({}, { source: [server.url('big')], destination: `duckdb:${destination}`, slot: 'inlet_big' }, {})
      await runPipeline({ config, once: true })
      // About 40 MB of values that do not compress: more than the disk holds.
      for (let i = 0; i < 20; i++) await sql(server, 'big', `insert into docs select g, (select string_agg(md5(random()::text || g || s), '') from generate_series(1, 64) s) from generate_series(${2 + i * 1000}, ${1 + (i + 1) * 1000}) g`)
      let failure: unknown
      await runPipeline({ config, once: true }).catch((e: unknown) => (failure = e))
      assert.ok(failure instanceof InletError && failure.code === 'INLET-D002', String(failure))
      assert.match(failure.message, /disk is full/)
      assert.match(failure.fix ?? '', /Free disk space/)
      // The slot is not past what the file holds.
      const [slot] = await sql<{ lsn: string }>(server, 'big', `select confirmed_flush_lsn::text as lsn from pg_replication_slots where slot_name = 'inlet_big'`)
      const { duck, close } = await openDuck(destination)
      try {
        const rows = (await (await duck.runAndReadAll(`SELECT checkpoint_lsn FROM _inlet.sources`)).getRowObjectsJS()) as Array<{ checkpoint_lsn: bigint }>
        const [hi, lo] = (slot?.lsn ?? '0/0').split('/').map((h) => BigInt(`0x${h}`)) as [bigint, bigint]
        assert.ok(((hi << 32n) | lo) <= (rows[0]?.checkpoint_lsn ?? 0n), `slot ${slot?.lsn} past checkpoint ${rows[0]?.checkpoint_lsn}`)
      } finally {
        close()
      }
      execFileSync('mount', ['-o', 'remount,size=256m', mount])
      await runPipeline({ config, once: true })
      await assertEqualTables(destination, [{ sourceUrl: server.url('big'), sourceTable: 'public.docs', destTable: 'public.docs' }])
    } finally {
      execFileSync('umount', ['-l', mount])
    }
  })
})
