/**
 * Faults on the source while `inlet run` streams under a workload: the walsender terminated
 * (pg_terminate_backend) and the server restarted. The run reconnects with backoff and resumes
 * from its checkpoint; afterwards every table equals its source. Also: a slot held by a lingering
 * Inlet connection (refused, then taken over with --takeover) and an invalidated slot (a clear
 * error naming --resync, which recovers to equality).
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { resolveConfig } from '../src/config/load.js'
import type { EmbeddedPostgres } from '../src/embedded/postgres-server.js'
import { InletError } from '../src/errors/inlet-error.js'
import { runPipeline } from '../src/pipeline/run-pipeline.js'
import type { StatusReport } from '../src/observability/status-report.js'
import { assertEqualTables, openDuck } from './support/compare.js'
import { captureLog, createDatabase, runCli, sql, startServer, testMajors } from './support/servers.js'
import { startTcpProxy } from './support/tcp-proxy.js'

const major = testMajors().at(-1) as number

describe(`faults on the source (PostgreSQL ${major})`, () => {
  let server: EmbeddedPostgres
  let dir: string
  before(async () => {
    server = await startServer(major)
    dir = mkdtempSync(join(tmpdir(), 'inlet-faults-'))
    await createDatabase(server, 'shop', `create table items (id int primary key, qty int); insert into items select g, 0 from generate_series(1, 1000) g; create publication inlet_pub for table items;`)
  })
  after(async () => {
    await server?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  const compare = (destination: string) => assertEqualTables(destination, [{ sourceUrl: server.url('shop'), sourceTable: 'public.items', destTable: 'public.items' }])

  test('walsender terminated, then the server restarted, under a workload: reconnects, resumes, equal', async () => {
    const destination = join(dir, 'lake.duckdb')
    const config = resolveConfig({}, { source: [server.url('shop')], destination: `duckdb:${destination}`, slot: 'inlet_shop' }, {})
    const { log, lines } = captureLog()
    const stop = new AbortController()
    const running = runPipeline({ config, signal: stop.signal, log })
    let working = true
    let n = 0
    // The workload survives the restart: it reconnects and carries on.
    const writing = (async () => {
      while (working) {
        const c = new pg.Client(server.url('shop'))
        c.on('error', () => undefined)
        try {
          await c.connect()
          while (working) {
            n++
            await c.query(`update items set qty = qty + 1 where id = ${1 + (n % 1000)}; insert into items values (${10000 + n}, ${n})`)
          }
        } catch {
          n += 1000 // a statement may or may not have committed; later ids never collide
          await new Promise((r) => setTimeout(r, 200))
        } finally {
          await c.end().catch(() => undefined)
        }
      }
    })()
    const streams = () => lines.filter((l) => l.includes('"stream.start"')).length
    const waitFor = async (what: () => boolean, ms: number) => {
      for (let i = 0; i < ms / 50 && !what(); i++) await new Promise((r) => setTimeout(r, 50))
      assert.ok(what(), lines.join(''))
    }
    try {
      await waitFor(() => streams() === 1, 20_000)
      await new Promise((r) => setTimeout(r, 500))
      await sql(server, 'shop', `select pg_terminate_backend(active_pid) from pg_replication_slots where slot_name = 'inlet_shop'`)
      await waitFor(() => streams() === 2, 20_000)
      await new Promise((r) => setTimeout(r, 500))
      await server.restart()
      await waitFor(() => streams() === 3, 60_000)
      await new Promise((r) => setTimeout(r, 1000))
    } finally {
      working = false
      await writing
      await new Promise((r) => setTimeout(r, 1500))
      stop.abort()
      await running
    }
    assert.ok(lines.filter((l) => l.includes('"source.reconnect"')).length >= 2, lines.join(''))
    // Whatever was committed after the last batch is read by the next run.
    await runPipeline({ config, once: true })
    await compare(destination)
  })

  test('an idle database next to a busy one: its slot position advances, never past the checkpoint; a slot recreated behind its back is refused, --resync recovers', async () => {
    await createDatabase(server, 'quiet', `create table q (id int primary key); insert into q values (1); create publication inlet_pub for table q;`)
    const destination = join(dir, 'quiet.duckdb')
    const config = resolveConfig({}, { source: [server.url('quiet')], destination: `duckdb:${destination}`, slot: 'inlet_quiet' }, {})
    await runPipeline({ config, once: true })
    const position = async () => (await sql<{ lsn: string }>(server, 'quiet', `select confirmed_flush_lsn::text as lsn from pg_replication_slots where slot_name = 'inlet_quiet'`))[0]?.lsn as string
    const lsnOf = (text: string) => {
      const [hi, lo] = text.split('/') as [string, string]
      return (BigInt(`0x${hi}`) << 32n) | BigInt(`0x${lo}`)
    }
    const before = lsnOf(await position())
    const stop = new AbortController()
    const running = runPipeline({ config, signal: stop.signal })
    try {
      // WAL of another database only.
      for (let i = 0; i < 20; i++) {
        await sql(server, 'shop', `update items set qty = qty + 1 where id <= 200`)
        await new Promise((r) => setTimeout(r, 150))
      }
    } finally {
      stop.abort()
      await running
    }
    const after = lsnOf(await position())
    assert.ok(after > before, `the idle slot's confirmed position advanced (${before} -> ${after})`)
    const { duck, close } = await openDuck(destination)
    let checkpoint: bigint
    try {
      checkpoint = BigInt(String(((await (await duck.runAndReadAll(`SELECT checkpoint_lsn FROM _inlet.sources`)).getRows()) as unknown[][])[0]?.[0]))
    } finally {
      close()
    }
    assert.ok(checkpoint >= after, `the destination recorded the position before confirming it (${checkpoint} >= ${after})`)

    // Recreated behind Inlet's back, with changes in between that the new slot does not have.
    await sql(server, 'quiet', `select pg_drop_replication_slot('inlet_quiet'); insert into q values (2)`)
    await sql(server, 'quiet', `select pg_create_logical_replication_slot('inlet_quiet', 'pgoutput')`)
    await assert.rejects(runPipeline({ config, once: true }), (error: unknown) => error instanceof InletError && error.code === 'INLET-S008' && /--resync/.test(error.fix ?? ''))
    await runPipeline({ config, once: true, resync: true })
    await assertEqualTables(destination, [{ sourceUrl: server.url('quiet'), sourceTable: 'public.q', destTable: 'public.q' }])
  })

  test('heartbeats move an idle slot with no other WAL; retained WAL past the threshold is warned about', async () => {
    await createDatabase(server, 'beat', `create table b (id int primary key); create publication inlet_pub for table b;`)
    const destination = join(dir, 'beat.duckdb')
    const config = resolveConfig({ heartbeat_seconds: 1, retained_wal_warning_mb: 0.00001 }, { source: [server.url('beat')], destination: `duckdb:${destination}`, slot: 'inlet_beat' }, {})
    await runPipeline({ config, once: true })
    const position = async () => (await sql<{ lsn: string }>(server, 'beat', `select confirmed_flush_lsn::text as lsn from pg_replication_slots where slot_name = 'inlet_beat'`))[0]?.lsn as string
    const before = await position()
    const { log, lines } = captureLog()
    const stop = new AbortController()
    const running = runPipeline({ config, signal: stop.signal, log })
    await new Promise((r) => setTimeout(r, 4000))
    stop.abort()
    await running
    assert.notEqual(await position(), before, 'the heartbeats gave the slot WAL to move past')
    assert.ok(lines.some((l) => l.includes('"slot.wal"')), lines.join(''))
  })

  test('a slot held by a lingering Inlet connection: refused, then --takeover', async () => {
    const destination = join(dir, 'lake.duckdb')
    const config = resolveConfig({}, { source: [server.url('shop')], destination: `duckdb:${destination}`, slot: 'inlet_shop' }, {})
    // A walsender of "inlet" holding the slot, as a killed run's would until the server notices.
    const holder = new pg.Client({ connectionString: server.url('shop'), application_name: 'inlet', replication: 'database' } as pg.ClientConfig)
    await holder.connect()
    holder.on('error', () => undefined)
    void holder.query(`START_REPLICATION SLOT inlet_shop LOGICAL 0/0 (proto_version '1', publication_names 'inlet_pub')`).catch(() => undefined)
    await new Promise((r) => setTimeout(r, 500))
    await assert.rejects(runPipeline({ config, once: true }), (error: unknown) => error instanceof InletError && error.code === 'INLET-S002' && /--takeover/.test(error.fix ?? ''))
    await sql(server, 'shop', `update items set qty = -1 where id = 1`)
    await runPipeline({ config, once: true, takeover: true })
    await holder.end().catch(() => undefined)
    await compare(destination)
  })

  test('a lost connection whose walsender still holds the slot: the run waits with backoff until it is free, resumes, equal', { timeout: 120_000 }, async () => {
    const proxy = await startTcpProxy(Number(new URL(server.url('shop')).port))
    const destination = join(dir, 'lost.duckdb')
    const through = new URL(server.url('shop'))
    through.port = String(proxy.port)
    const config = resolveConfig({}, { source: [through.toString()], destination: `duckdb:${destination}`, slot: 'inlet_lost' }, {})
    const { log, lines } = captureLog()
    const stop = new AbortController()
    const running = runPipeline({ config, signal: stop.signal, log, batch: { maxLatencyMs: 100 } })
    try {
      const starts = () => lines.filter((l) => l.includes('"stream.start"')).length
      while (starts() < 1) await new Promise((r) => setTimeout(r, 50))
      await sql(server, 'shop', `update items set qty = qty + 1 where id <= 100`)
      await new Promise((r) => setTimeout(r, 500))
      // The client side goes; the walsender keeps the slot until wal_sender_timeout (10 s here).
      proxy.cut()
      await sql(server, 'shop', `update items set qty = qty + 10 where id between 50 and 150; delete from items where id = 999`)
      for (let i = 0; i < 600 && starts() < 2; i++) await new Promise((r) => setTimeout(r, 100))
      assert.equal(starts(), 2, lines.join(''))
      assert.ok(lines.some((l) => l.includes('"source.reconnect"') && /in use|INLET-S002|active/i.test(l)), 'it waited for the slot, not gave up')
      await sql(server, 'shop', `update items set qty = -5 where id = 7`)
      await new Promise((r) => setTimeout(r, 1500))
    } finally {
      stop.abort()
      await running
      await proxy.close()
    }
    await compare(destination)
  })

  test('inlet status: phase, rows and lag per table, the slot; held while a run streams', async () => {
    const destination = join(dir, 'lake.duckdb')
    const flags = ['--source', server.url('shop'), '--destination', `duckdb:${destination}`, '--slot', 'inlet_shop', '--json']
    const config = resolveConfig({}, { source: [server.url('shop')], destination: `duckdb:${destination}`, slot: 'inlet_shop' }, {})
    await runPipeline({ config, once: true })
    // A change applied: the table has a last commit time.
    await sql(server, 'shop', `update items set qty = qty + 1 where id = 2`)
    await runPipeline({ config, once: true })
    const status = await runCli(['status', ...flags])
    assert.equal(status.code, 0, status.stderr)
    const whole = JSON.parse(status.stdout) as StatusReport
    const report = whole.sources[0]
    const [count] = await sql<{ n: string }>(server, 'shop', 'select count(*)::text as n from items')
    assert.deepEqual(report?.tables.map((t) => ({ ...t, lastCommitTime: t.lastCommitTime === null ? null : 'set' })), [
      { table: 'public.items', destination: 'public.items', phase: 'streaming', rows: Number(count?.n), refreshPending: false, lastCommitTime: 'set', lagBytes: report?.lagBytes, lagSeconds: report?.lagSeconds, copy: null, applied: null },
    ])
    // Caught up: 0 s. WAL the server wrote on its own since (a checkpoint, running transactions)
    // counts from the last applied commit, seconds ago.
    const lagSeconds = report?.lagSeconds ?? Number.NaN
    if (report?.lagBytes === 0) assert.equal(lagSeconds, 0)
    else assert.ok(lagSeconds >= 0 && lagSeconds < 60, `lag ${lagSeconds} s with ${report?.lagBytes} bytes behind`)
    assert.equal(whole.destinationHeld, false)
    assert.equal(whole.run, null)
    assert.equal(report?.slotStatus?.active, false)
    assert.equal(report?.slotStatus?.walStatus, 'reserved')
    assert.ok(typeof report?.lagBytes === 'number' && report.lagBytes >= 0)
    assert.doesNotMatch(status.stdout + status.stderr, /password|secret/i)
    const stop = new AbortController()
    const running = runPipeline({ config, signal: stop.signal })
    try {
      await new Promise((r) => setTimeout(r, 1500))
      const held = await runCli(['status', ...flags])
      assert.equal(held.code, 0, held.stderr)
      // (A run without its local API, as a library user may start one: the file is reported held.)
      const h = JSON.parse(held.stdout) as StatusReport
      assert.equal(h.destinationHeld, true)
      assert.equal(h.sources[0]?.slotStatus?.active, true)
    } finally {
      stop.abort()
      await running
    }
  })

  test('an invalidated slot: a clear error naming --resync, which recovers to equality', async () => {
    const destination = join(dir, 'lost.duckdb')
    const config = resolveConfig({}, { source: [server.url('shop')], destination: `duckdb:${destination}`, slot: 'inlet_lost' }, {})
    await runPipeline({ config, once: true })
    // Make the slot lose its WAL: a tiny max_slot_wal_keep_size and enough WAL to pass it.
    await server.restart({ max_slot_wal_keep_size: '1MB', wal_keep_size: '0' })
    for (let i = 0; i < 6; i++) await sql(server, 'shop', `select pg_switch_wal(); update items set qty = qty + 1; checkpoint`)
    const [slot] = await sql<{ wal_status: string }>(server, 'shop', `select wal_status from pg_replication_slots where slot_name = 'inlet_lost'`)
    assert.equal(slot?.wal_status, 'lost')
    await assert.rejects(runPipeline({ config, once: true }), (error: unknown) => error instanceof InletError && error.code === 'INLET-S006' && /--resync/.test(error.fix ?? ''))
    await runPipeline({ config, once: true, resync: true })
    await compare(destination)
    await server.restart({ max_slot_wal_keep_size: '-1' })
  })
})
