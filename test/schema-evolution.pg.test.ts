/**
 * Schema changes followed through Relation messages (no DDL tracking script), mid-stream and
 * between rows of one transaction: ADD COLUMN (nullable, and with a default that PostgreSQL
 * fills without row events), DROP COLUMN (kept, NULL from then on), type widening in place
 * (int → bigint, numeric(6,2) → numeric(10,2)), and a type change the destination cannot hold
 * (a clear error). Then the same through the DDL tracking script's audit rows, which also show
 * changes no row follows, renames (by attnum), table renames, drops and value-changing rewrites.
 * Destination compared with the source value by value, SCD1 and SCD2.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { resolveConfig } from '../src/config/load.js'
import type { EmbeddedPostgres } from '../src/embedded/postgres-server.js'
import { InletError } from '../src/errors/inlet-error.js'
import { runPipeline } from '../src/pipeline/run-pipeline.js'
import { ddlTrackingScript } from '../src/source/ddl-tracking.js'
import { compareTable, openDuck } from './support/compare.js'
import { createDatabase, runAndKill, runCli, sql, startServer, testMajors } from './support/servers.js'

const SCHEMA = `
  create table items (id int primary key, name text, qty int, price numeric(6,2), note text);
  insert into items select g, 'item ' || g, g % 50, (g % 1000) / 10.0, repeat('n', g % 7) from generate_series(1, 300) g;
  create publication inlet_pub for table items;`

for (const major of testMajors()) {
  describe(`schema evolution from Relation messages (PostgreSQL ${major})`, () => {
    let server: EmbeddedPostgres
    let dir: string
    before(async () => {
      server = await startServer(major)
      dir = mkdtempSync(join(tmpdir(), 'inlet-schema-'))
    })
    after(async () => {
      await server?.stop()
      rmSync(dir, { recursive: true, force: true })
    })

    for (const scd of [1, 2] as const) {
      test(`ADD, ADD DEFAULT, DROP, widen, in and between transactions (SCD${scd})`, async () => {
        const db = `shop${scd}`
        await createDatabase(server, db, SCHEMA)
        const destination = join(dir, `lake${scd}.duckdb`)
        const config = resolveConfig({ scd }, { source: [server.url(db)], destination: `duckdb:${destination}`, slot: `inlet_${db}` }, {})
        const run = () => runPipeline({ config, once: true })
        await run()

        await sql(server, db, `update items set qty = qty + 1 where id <= 20`)
        await sql(server, db, `alter table items add column color text`)
        await sql(server, db, `update items set color = 'red' where id between 10 and 30`)
        await run() // the first schema change alone in a batch
        // Several changes in one batch, one of them between rows of a single transaction.
        // A rewrite (int -> bigint) first: a later rewrite would turn rank's missing value into stored values.
        await sql(server, db, `alter table items alter column qty type bigint`)
        await sql(server, db, `update items set qty = 5000000000 where id = 3`)
        await sql(server, db, `alter table items add column rank int not null default 7`)
        await sql(server, db, `insert into items (id, name, qty, price, color, rank) values (1001, 'new', 1, 2.50, 'blue', 1), (1002, 'new2', 2, 3.50, null, 7)`)
        await sql(server, db, `begin; update items set name = 'before' where id < 5; alter table items drop column note; update items set name = 'after' where id = 2; insert into items (id, name) values (1003, 'x'); commit`)
        await sql(server, db, `alter table items alter column price type numeric(10,2)`)
        await sql(server, db, `update items set price = 12345678.91 where id = 4; delete from items where id between 100 and 110`)
        await run()

        const { duck, close } = await openDuck(destination)
        try {
          const problems = await compareTable(duck, { sourceUrl: server.url(db), sourceTable: 'public.items', destTable: 'public.items', scd, key: ['id'], ignore: ['note'] })
          assert.deepEqual(problems, [])
          const types = Object.fromEntries(((await (await duck.runAndReadAll(`SELECT column_name, column_type FROM (DESCRIBE public.items)`)).getRows()) as string[][]).map((r) => [r[0], r[1]]))
          assert.equal(types.qty, 'BIGINT')
          assert.equal(types.price, 'DECIMAL(10,2)')
          assert.equal(types.rank, 'INTEGER')
          assert.equal(types.note, 'VARCHAR', 'a dropped column stays in the destination')
          // Rows written after the drop hold NULL there; rows not touched since keep their value.
          const current = scd === 2 ? ' AND "__END_AT" IS NULL' : ''
          const notes = (await (await duck.runAndReadAll(`SELECT id, note FROM public.items WHERE id IN (2, 1003, 250)${current} ORDER BY id`)).getRows()) as Array<[number, string | null]>
          assert.deepEqual(notes, [
            [2, null],
            [250, 'n'.repeat(250 % 7)],
            [1003, null],
          ])
        } finally {
          close()
        }
      })
    }

    test('a type change the destination cannot hold: with auto_refresh off a clear error, nothing applied; inlet refresh recovers', async () => {
      await createDatabase(server, 'shop3', SCHEMA)
      const destination = join(dir, 'lake3.duckdb')
      const config = resolveConfig({ auto_refresh: 'off' }, { source: [server.url('shop3')], destination: `duckdb:${destination}`, slot: 'inlet_shop3' }, {})
      await runPipeline({ config, once: true })
      await sql(server, 'shop3', `update items set qty = 41 where id = 1; alter table items alter column name type int using length(name); update items set qty = 42 where id = 2`)
      await assert.rejects(runPipeline({ config, once: true }), (error: unknown) => error instanceof InletError && error.code === 'INLET-S007' && /items.name changed type/.test(error.message))
      const { duck, close } = await openDuck(destination)
      try {
        const qty = (await (await duck.runAndReadAll(`SELECT qty FROM public.items WHERE id IN (1, 2) ORDER BY id`)).getRows()) as number[][]
        assert.deepEqual(qty, [[1], [2]], 'the rows before the change in that transaction were not applied either')
      } finally {
        close()
      }
      // The way out the error names: copy the table again.
      const refresh = await runCli(['refresh', '--source', server.url('shop3'), '--destination', `duckdb:${destination}`, '--slot', 'inlet_shop3', 'public.items'])
      assert.equal(refresh.code, 0, refresh.stderr)
      await sql(server, 'shop3', `update items set qty = 43 where id = 3`)
      await runPipeline({ config, once: true })
      const after = await openDuck(destination)
      try {
        assert.deepEqual(await compareTable(after.duck, { sourceUrl: server.url('shop3'), sourceTable: 'public.items', destTable: 'public.items' }), [])
      } finally {
        after.close()
      }
    })
  })

  describe(`dropped_columns: drop (PostgreSQL ${major})`, () => {
    let server: EmbeddedPostgres
    let dir: string
    before(async () => {
      server = await startServer(major)
      dir = mkdtempSync(join(tmpdir(), 'inlet-dropcol-'))
    })
    after(async () => {
      await server?.stop()
      rmSync(dir, { recursive: true, force: true })
    })

    test('a column dropped in the source is dropped from the destination, also when a kill came between', async () => {
      await createDatabase(server, 'shop', SCHEMA)
      const destination = join(dir, 'lake.duckdb')
      const config = join(dir, 'inlet.yaml')
      writeFileSync(config, `sources:\n  - url: ${server.url('shop')}\n    slot: inlet_shop\ndestination: duckdb:${destination}\ndropped_columns: drop\n`)
      const run = ['run', '--config', config, '--once', '--json']
      const columns = async () => {
        const { duck, close } = await openDuck(destination)
        try {
          return ((await (await duck.runAndReadAll(`SELECT column_name FROM (DESCRIBE public.items)`)).getRows()) as string[][]).map((r) => r[0])
        } finally {
          close()
        }
      }
      assert.equal((await runCli(run)).code, 0)
      await sql(server, 'shop', `update items set note = 'x' where id = 1; alter table items drop column note; update items set qty = 9 where id = 2`)
      assert.equal((await runCli(run)).code, 0)
      assert.ok(!(await columns()).includes('note'), 'dropped at the end of the run that saw the DROP')
      // Killed right after a batch committed: whatever the kill interrupted, the next run ends without it.
      await sql(server, 'shop', `alter table items drop column price; update items set qty = 10 where id = 3`)
      const killed = await runAndKill(run, 60_000, { INLET_TEST_FAULTS: JSON.stringify({ killAfterCommit: 1 }) })
      assert.equal(killed.signal, 'SIGKILL', killed.stderr)
      assert.equal((await runCli(run)).code, 0)
      assert.ok(!(await columns()).includes('price'))
      const { duck, close } = await openDuck(destination)
      try {
        assert.deepEqual(await compareTable(duck, { sourceUrl: server.url('shop'), sourceTable: 'public.items', destTable: 'public.items' }), [])
      } finally {
        close()
      }
    })
  })

  describe(`schema evolution from the DDL tracking script (PostgreSQL ${major})`, () => {
    let server: EmbeddedPostgres
    let dir: string
    before(async () => {
      server = await startServer(major)
      dir = mkdtempSync(join(tmpdir(), 'inlet-ddl-'))
    })
    after(async () => {
      await server?.stop()
      rmSync(dir, { recursive: true, force: true })
    })

    for (const scd of [1, 2] as const) {
      test(`changes without following rows, renames, widening, table rename and drop (SCD${scd})`, async () => {
        const db = `ddl${scd}`
        await createDatabase(server, db, SCHEMA)
        await sql(server, db, ddlTrackingScript('install'))
        // A second table keeps the publication non-empty once items is dropped.
        await sql(server, db, 'create table keep (id int primary key); alter publication inlet_pub add table inlet.inlet_ddl_audit, keep')
        const destination = join(dir, `lake${scd}.duckdb`)
        const config = resolveConfig({ scd }, { source: [server.url(db)], destination: `duckdb:${destination}`, slot: `inlet_${db}` }, {})
        const run = () => runPipeline({ config, once: true })
        const compare = async (sourceTable: string, ignore: string[]) => {
          const { duck, close } = await openDuck(destination)
          try {
            assert.deepEqual(await compareTable(duck, { sourceUrl: server.url(db), sourceTable, destTable: 'public.items', scd, key: ['id'], ignore }), [])
          } finally {
            close()
          }
        }
        await run()

        // No row of items follows this: only the audit row tells.
        await sql(server, db, `alter table items add column color text not null default 'none'`)
        await run()
        await compare('public.items', [])

        await sql(server, db, `alter table items rename column name to title`)
        await sql(server, db, `update items set title = title || '!' where id <= 10`)
        await sql(server, db, `alter table items alter column qty type bigint`)
        await sql(server, db, `update items set qty = 6000000000 where id = 11`)
        await sql(server, db, `alter table items drop column note`)
        await sql(server, db, `begin; update items set price = 1 where id = 12; alter table items rename column price to cost; update items set cost = 2 where id = 13; delete from items where id = 14; commit`)
        await run()
        await compare('public.items', ['note'])

        await sql(server, db, `alter table items rename to things; update things set title = 'renamed' where id = 15`)
        await run()
        await compare('public.things', ['note'])

        await sql(server, db, `update things set title = 'last' where id = 16; drop table things`)
        await run()
        const { duck, close } = await openDuck(destination)
        try {
          const phase = (await (await duck.runAndReadAll(`SELECT phase FROM _inlet.tables WHERE source_table = 'things'`)).getRows()) as string[][]
          assert.deepEqual(phase, [['dropped']])
          const current = scd === 2 ? ' AND "__END_AT" IS NULL' : ''
          const last = (await (await duck.runAndReadAll(`SELECT title FROM public.items WHERE id = 16${current}`)).getRows()) as string[][]
          assert.deepEqual(last, [['last']], 'the rows before the drop were applied and the table kept')
        } finally {
          close()
        }
      })
    }

    test('a rewrite that computes new values (USING): a clear error with auto_refresh off, else copied again by itself', async () => {
      await createDatabase(server, 'ddl3', SCHEMA)
      await sql(server, 'ddl3', ddlTrackingScript('install'))
      await sql(server, 'ddl3', 'alter publication inlet_pub add table inlet.inlet_ddl_audit')
      const off = resolveConfig({ auto_refresh: 'off' }, { source: [server.url('ddl3')], destination: `duckdb:${join(dir, 'lake3.duckdb')}`, slot: 'inlet_ddl3' }, {})
      await runPipeline({ config: off, once: true })
      await sql(server, 'ddl3', `alter table items alter column qty type bigint using qty * 10`)
      await assert.rejects(runPipeline({ config: off, once: true }), (error: unknown) => error instanceof InletError && error.code === 'INLET-S007' && /rewritten by ALTER TABLE/.test(error.message))
      // By default (auto_refresh: scd1) the table is copied again by itself and the stream resumes.
      await sql(server, 'ddl3', `update items set qty = qty + 1 where id <= 5`)
      const auto = resolveConfig({}, { source: [server.url('ddl3')], destination: `duckdb:${join(dir, 'lake3.duckdb')}`, slot: 'inlet_ddl3' }, {})
      await runPipeline({ config: auto, once: true })
      const { duck, close } = await openDuck(join(dir, 'lake3.duckdb'))
      try {
        assert.deepEqual(await compareTable(duck, { sourceUrl: server.url('ddl3'), sourceTable: 'public.items', destTable: 'public.items' }), [])
      } finally {
        close()
      }
    })

    test('a new primary key: the table is copied again under it (auto_refresh scd1)', async () => {
      await createDatabase(server, 'ddl4', SCHEMA)
      await sql(server, 'ddl4', ddlTrackingScript('install'))
      await sql(server, 'ddl4', 'alter publication inlet_pub add table inlet.inlet_ddl_audit')
      const destination = join(dir, 'lake4.duckdb')
      const config = resolveConfig({}, { source: [server.url('ddl4')], destination: `duckdb:${destination}`, slot: 'inlet_ddl4' }, {})
      await runPipeline({ config, once: true })
      await sql(server, 'ddl4', `alter table items drop constraint items_pkey, add primary key (name); update items set qty = qty + 100 where id <= 50; delete from items where id = 60`)
      await runPipeline({ config, once: true })
      await sql(server, 'ddl4', `update items set qty = 0 where name = 'item 7'`)
      await runPipeline({ config, once: true })
      const { duck, close } = await openDuck(destination)
      try {
        assert.deepEqual(await compareTable(duck, { sourceUrl: server.url('ddl4'), sourceTable: 'public.items', destTable: 'public.items' }), [])
        const keyed = (await (await duck.runAndReadAll(`SELECT columns FROM _inlet.tables WHERE source_table = 'items'`)).getRows()) as string[][]
        const key = (JSON.parse(String(keyed[0]?.[0])) as Array<{ name: string; key: boolean }>).filter((c) => c.key).map((c) => c.name)
        assert.deepEqual(key, ['name'], 'the table streams under its new key')
      } finally {
        close()
      }
    })
  })
}
