/**
 * Issue 12, keys and identity of tables, through `inlet run` on a real PostgreSQL, compared value
 * by value: a composite key declared in another order than its columns, typmod arrays and domains
 * under a refresh with writes, DEFERRABLE keys moved onto the keys they vacate, tables swapped by
 * RENAME or dropped and created again under their name (with and without the DDL tracking
 * script), names the destination cannot tell apart, a dropped column added again, a table renamed
 * between two runs, a source table named like Inlet's copies, and a newly published table that
 * cannot be followed (skipped, the others stream on).
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { resolveConfig, type ResolvedConfig } from '../src/config/load.js'
import type { EmbeddedPostgres } from '../src/embedded/postgres-server.js'
import { RunMonitor } from '../src/observability/run-monitor.js'
import { runPipeline } from '../src/pipeline/run-pipeline.js'
import { ddlTrackingScript } from '../src/source/ddl-tracking.js'
import { assertEqualTables, openDuck } from './support/compare.js'
import { captureLog, createDatabase, runCli, sql, startServer, testMajors } from './support/servers.js'

const pause = (ms = 600) => new Promise((r) => setTimeout(r, ms))

/** Two tables of different shapes, for the rename and drop cases. */
const TWO_TABLES = `create table a (id int primary key, v text); create table b (id int primary key, w int, v text); insert into a select g, 'a' from generate_series(1, 20) g; insert into b select g, g, 'b' from generate_series(1, 30) g`

/** Runs `work` against the source while a run streams, then stops the run. */
async function whileStreaming(config: ResolvedConfig, work: () => Promise<void>): Promise<void> {
  const stop = new AbortController()
  const running = runPipeline({ config, signal: stop.signal, batch: { maxLatencyMs: 100 } })
  running.catch(() => undefined) // (awaited below, with its error)
  try {
    await work()
  } finally {
    stop.abort()
    await running
  }
}

for (const major of testMajors()) {
  describe(`issue 12: keys and names (PostgreSQL ${major})`, () => {
    let server: EmbeddedPostgres
    let dir: string
    let n = 0
    /** A database of its own, with its publication FOR ALL TABLES. */
    const database = async (setup: string, ddl = false) => {
      const db = `k${++n}`
      await createDatabase(server, db, `${setup}; create publication inlet_pub for all tables`)
      // (FOR ALL TABLES publishes the audit table too.)
      if (ddl) await sql(server, db, ddlTrackingScript('install'))
      return { db, url: server.url(db), destination: join(dir, `${db}.duckdb`) }
    }
    before(async () => {
      // A database (and a slot) per test.
      server = await startServer(major, { max_replication_slots: 24, max_wal_senders: 24 })
      dir = mkdtempSync(join(tmpdir(), 'inlet-i12-keys-'))
    })
    after(async () => {
      await server?.stop()
      rmSync(dir, { recursive: true, force: true })
    })

    for (const scd of [1, 2] as const) {
      test(`a composite key declared in another order than its columns is unchanged (SCD${scd})`, async () => {
        const { url, db, destination } = await database(`create table t (a int, b int, v text, primary key (b, a)); insert into t select g % 10, g, 'v' from generate_series(1, 100) g`)
        const config = resolveConfig({ scd, auto_refresh: 'off' }, { source: [url], destination: `duckdb:${destination}` }, {})
        await runPipeline({ config, once: true })
        const { log, lines } = captureLog()
        // A new column makes PostgreSQL send the table's Relation message again, with its key flags.
        await sql(server, db, `alter table t add column w int; update t set v = 'changed', w = a where b % 3 = 0; delete from t where b % 7 = 0`)
        await runPipeline({ config, once: true, log })
        assert.ok(!lines.some((l) => /refresh\.begin|INLET-S007/.test(l)), 'no new copy for an unchanged key')
        await assertEqualTables(destination, [{ sourceUrl: url, sourceTable: 'public.t', destTable: 'public.t', scd, key: ['a', 'b'] }])
      })
    }

    test('typmod arrays and domains: a refresh under writes completes', async () => {
      const { url, db, destination } = await database(`create domain money2 as numeric(12,2); create table t (id int primary key, tags varchar(10)[], price money2, codes numeric(5,1)[]); insert into t select g, array['a' || g, 'b'], g * 1.5, array[g, g + 0.5] from generate_series(1, 2000) g`)
      const config = resolveConfig({}, { source: [url], destination: `duckdb:${destination}` }, {})
      await runPipeline({ config, once: true })
      const monitor = new RunMonitor()
      const { log, lines } = captureLog()
      const stop = new AbortController()
      const running = runPipeline({ config, signal: stop.signal, monitor, log })
      let writing = true
      const writer = (async () => {
        for (let i = 0; writing; i++) {
          await sql(server, db, `update t set tags = array['x' || ${i}], price = price + 1 where id = ${1 + (i % 2000)}`)
          await pause(20)
        }
      })()
      try {
        await pause(800)
        monitor.source(db, `inlet_${db}`).refreshRequests.push(['public', 't'])
        for (let i = 0; i < 100 && !lines.some((l) => /"event":"refresh\.done"/.test(l)); i++) await pause(100)
        assert.ok(lines.some((l) => /"event":"refresh\.done"/.test(l)), `the refresh completed: ${lines.filter((l) => /refresh/.test(l)).slice(-5).join('\n')}`)
        assert.ok(lines.filter((l) => /"event":"refresh\.begin"/.test(l)).length <= 1, 'it did not restart')
      } finally {
        writing = false
        await writer
        stop.abort()
        await running
      }
      await runPipeline({ config, once: true })
      await assertEqualTables(destination, [{ sourceUrl: url, sourceTable: 'public.t', destTable: 'public.t' }])
    })

    for (const scd of [1, 2] as const) {
      test(`DEFERRABLE keys moved onto the keys they vacate (SCD${scd})`, async () => {
        const { url, db, destination } = await database(
          `create table t (id int primary key deferrable initially immediate, v text); alter table t replica identity full;
           create table d (id int primary key deferrable, v text);
           insert into t select g, 'v' || g from generate_series(1, 10) g; insert into d select g, 'd' || g from generate_series(1, 5) g`,
        )
        const config = resolveConfig({ scd }, { source: [url], destination: `duckdb:${destination}` }, {})
        const monitor = new RunMonitor()
        await runPipeline({ config, once: true, monitor })
        assert.equal(monitor.source(db, `inlet_${db}`).tables.get('public.d')?.phase, 'skipped', 'a deferrable key without FULL is skipped')
        await sql(server, db, `update t set id = 3 - id where id in (1, 2); update t set id = id + 1; begin; update t set id = id + 100 where id > 5; update t set v = 'moved' where id > 100; commit`)
        await runPipeline({ config, once: true })
        await assertEqualTables(destination, [{ sourceUrl: url, sourceTable: 'public.t', destTable: 'public.t', scd, key: ['id'] }])
      })
    }

    for (const ddl of [false, true]) {
      test(`tables swapped by RENAME follow their OID${ddl ? ' (DDL tracking)' : ''}`, async () => {
        const { url, db, destination } = await database(TWO_TABLES, ddl)
        const config = resolveConfig({}, { source: [url], destination: `duckdb:${destination}` }, {})
        await runPipeline({ config, once: true })
        await whileStreaming(config, async () => {
          await pause()
          await sql(server, db, `begin; alter table a rename to tmp; alter table b rename to a; alter table tmp rename to b; commit`)
          await sql(server, db, `insert into a values (100, 1, 'into the old b'); insert into b values (100, 'into the old a'); update b set v = 'old a' where id < 5`)
          await pause()
        })
        // Asked by the name it has now, before a run followed the swap: the source's b (destination
        // public.a, edited by hand) is the one copied again.
        const edit = await openDuck(destination)
        await edit.duck.run(`UPDATE public.a SET v = 'tampered'`)
        edit.close()
        const refresh = await runCli(['refresh', '--source', url, '--destination', `duckdb:${destination}`, 'public.b'])
        assert.equal(refresh.code, 0, refresh.stderr)
        await runPipeline({ config, once: true })
        // Each destination table goes on with the table it was: public.a is the source's b now.
        await assertEqualTables(destination, [
          { sourceUrl: url, sourceTable: 'public.b', destTable: 'public.a' },
          { sourceUrl: url, sourceTable: 'public.a', destTable: 'public.b' },
        ])
      })

      test(`tables dropped and created again under their name${ddl ? ' (DDL tracking)' : ''}, also in one transaction with rows`, async () => {
        const { url, db, destination } = await database(TWO_TABLES, ddl)
        const config = resolveConfig({}, { source: [url], destination: `duckdb:${destination}` }, {})
        await runPipeline({ config, once: true })
        await whileStreaming(config, async () => {
          await pause()
          await sql(server, db, `drop table a; create table a (id int primary key, x text); insert into a values (1, 'new a')`)
          await sql(server, db, `begin; drop table b; create table b (k text primary key, id int); insert into b values ('k', 7); commit; insert into b values ('l', 8)`)
          await pause(6500) // past the 5 s check of the publication
        })
        await runPipeline({ config, once: true })
        await assertEqualTables(destination, [
          { sourceUrl: url, sourceTable: 'public.a', destTable: 'public.a' },
          { sourceUrl: url, sourceTable: 'public.b', destTable: 'public.b' },
        ])
      })
    }

    test('names the destination cannot tell apart are skipped with the way out; the others stream', async () => {
      const { url, db, destination } = await database(`create table "Orders" (id int primary key); create table orders (id int primary key); create table cols (id int primary key, "ID" int, "Name" text, name text); create table fine (id int primary key); insert into fine values (1); insert into "Orders" values (1); insert into orders values (2)`)
      const config = resolveConfig({}, { source: [url], destination: `duckdb:${destination}` }, {})
      const monitor = new RunMonitor()
      const { log, lines } = captureLog()
      await runPipeline({ config, once: true, monitor, log })
      const tables = monitor.source(db, `inlet_${db}`).tables
      const skipped = [...tables.values()].filter((t) => t.phase === 'skipped').map((t) => t.table)
      assert.deepEqual(skipped.sort(), ['public.cols', 'public.orders'])
      assert.ok(lines.some((l) => /"event":"table\.skipped".*as:/.test(l)), 'the fix names as:')
      await assertEqualTables(destination, [
        { sourceUrl: url, sourceTable: 'public.fine', destTable: 'public.fine' },
        { sourceUrl: url, sourceTable: 'public."Orders"', destTable: 'public."Orders"' },
      ])
    })

    test('a column dropped and added again under its name, no row following (DDL tracking)', async () => {
      const { url, db, destination } = await database(`create table t (id int primary key, c int, d text); insert into t select g, g, 'x' from generate_series(1, 10) g`, true)
      const config = resolveConfig({}, { source: [url], destination: `duckdb:${destination}` }, {})
      await runPipeline({ config, once: true })
      await sql(server, db, `alter table t drop column c; alter table t add column c int; alter table t drop column d; alter table t add column d text default 'new'`)
      await runPipeline({ config, once: true })
      await assertEqualTables(destination, [{ sourceUrl: url, sourceTable: 'public.t', destTable: 'public.t' }])
    })

    test('a table selected by name and renamed between runs; a source table named like a copy', async () => {
      const { url, db, destination } = await database(`create table t (id int primary key, v text); create table t__inlet_refresh (id int primary key); insert into t values (1, 'a'); insert into t__inlet_refresh values (42)`)
      const config = resolveConfig({ tables: ['public.t', 'public.t__inlet_refresh'] }, { source: [url], destination: `duckdb:${destination}` }, {})
      await runPipeline({ config, once: true })
      await runPipeline({ config, once: true })
      await assertEqualTables(destination, [{ sourceUrl: url, sourceTable: 'public.t__inlet_refresh', destTable: 'public.t__inlet_refresh' }])
      await sql(server, db, `alter table t rename to t2; insert into t2 values (2, 'b')`)
      // The config still names public.t: the table it named is followed by its OID, with a warning.
      const { log, lines } = captureLog()
      await runPipeline({ config, once: true, log })
      assert.ok(lines.some((l) => /"event":"table\.renamed".*public\.t2/.test(l)), 'the run says what to change in the config')
      const followed = resolveConfig({ tables: ['public.t2', 'public.t__inlet_refresh'] }, { source: [url], destination: `duckdb:${destination}` }, {})
      await sql(server, db, `insert into t2 values (3, 'c')`)
      await runPipeline({ config: followed, once: true })
      const { duck, close } = await openDuck(destination)
      try {
        const rows = (await (await duck.runAndReadAll(`SELECT id, v FROM public.t ORDER BY id`)).getRows()) as unknown[][]
        assert.deepEqual(rows, [[1, 'a'], [2, 'b'], [3, 'c']], 'the renamed table keeps streaming into its destination')
      } finally {
        close()
      }
    })

    test('a newly published table that cannot be followed is skipped; the others stream on', async () => {
      const { url, db, destination } = await database(`create table ok (id int primary key, v int); insert into ok values (1, 1)`)
      const config = resolveConfig({}, { source: [url], destination: `duckdb:${destination}` }, {})
      await runPipeline({ config, once: true })
      const monitor = new RunMonitor()
      const stop = new AbortController()
      const running = runPipeline({ config, signal: stop.signal, monitor })
      try {
        await pause()
        await sql(server, db, `create table nokey (v int); insert into nokey values (1); update ok set v = 2`)
        await pause(6500)
        await sql(server, db, `update ok set v = 3`)
        await pause()
      } finally {
        stop.abort()
        await running
      }
      assert.equal(monitor.source(db, `inlet_${db}`).tables.get('public.nokey')?.phase, 'skipped')
      await assertEqualTables(destination, [{ sourceUrl: url, sourceTable: 'public.ok', destTable: 'public.ok' }])
    })
  })
}
