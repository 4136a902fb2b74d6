/**
 * Every DDL form, run mid-stream by one continuous `inlet run` while a workload writes to the
 * changed table, with and without the DDL tracking script, SCD1 and SCD2: ADD COLUMN (with and
 * without a default), DROP COLUMN, RENAME COLUMN (script), widening, SET/DROP NOT NULL and
 * defaults, a rewrite that computes values (script) and a type the destination cannot hold
 * (both copied again beside the stream), a new primary key (copied again too), CREATE TABLE, RENAME TABLE, DROP TABLE, rolled-back DDL and DDL outside the selection.
 * Afterwards each destination table equals its source, schema and rows.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { resolveConfig } from '../src/config/load.js'
import type { EmbeddedPostgres } from '../src/embedded/postgres-server.js'
import { runPipeline } from '../src/pipeline/run-pipeline.js'
import { ddlTrackingScript } from '../src/source/ddl-tracking.js'
import { compareTable, openDuck } from './support/compare.js'
import { captureLog, createDatabase, sql, startServer, testMajors } from './support/servers.js'

const SCHEMA = `
  create table items (id int primary key, name text, qty int, price numeric(6,2), note text);
  insert into items select g, 'item ' || g, g % 50, (g % 1000) / 10.0, repeat('n', g % 7) from generate_series(1, 2000) g;
  create table extra (id int primary key, v text);
  insert into extra select g, 'e' || g from generate_series(1, 50) g;
  create schema scratch;
  create table scratch.t (id int primary key);
  create publication inlet_pub for all tables;`

interface Step {
  readonly ddl: string
  /** Only where the DDL tracking script shows it (a rename without it is a drop + add). */
  readonly scriptOnly?: boolean
}

const STEPS: readonly Step[] = [
  { ddl: `alter table items add column color text` },
  { ddl: `update items set color = 'red' where id % 10 = 0` },
  { ddl: `alter table items add column rank int not null default 7` },
  { ddl: `alter table items drop column note` },
  { ddl: `alter table items rename column name to title`, scriptOnly: true },
  { ddl: `alter table items alter column qty type bigint` },
  { ddl: `update items set qty = 5000000000 where id = 3` },
  { ddl: `alter table items alter column qty set not null; alter table items alter column price set default 1.5; alter table items alter column qty drop not null` },
  { ddl: `begin; alter table items add column ghost int; update items set qty = 1 where id = 4; rollback` },
  { ddl: `alter table scratch.t add column ignored text; insert into scratch.t values (1, 'x')` },
  // Values computed by the rewrite: only the script's audit row tells (copied again beside the stream).
  { ddl: `alter table items alter column price type numeric(12,3) using price * 2`, scriptOnly: true },
  // A type the destination column cannot hold: seen either way, copied again beside the stream.
  { ddl: `alter table items alter column price type text` },
  { ddl: `update items set price = 'p' || id where id % 7 = 0` },
  { ddl: `alter table items add column k2 int not null default 0; alter table items drop constraint items_pkey, add primary key (id, k2)` },
  { ddl: `create table fresh (id int primary key, v text); insert into fresh select g, 'f' || g from generate_series(1, 300) g` },
  { ddl: `update fresh set v = 'changed' where id <= 20; delete from fresh where id > 290` },
  { ddl: `alter table extra rename to extra2; update extra2 set v = 'renamed' where id <= 5` },
  { ddl: `insert into extra2 values (100, 'last'); drop table extra2`, scriptOnly: true },
]

for (const major of testMajors()) {
  describe(`DDL mid-stream under a workload (PostgreSQL ${major})`, () => {
    let server: EmbeddedPostgres
    let dir: string
    before(async () => {
      server = await startServer(major)
      dir = mkdtempSync(join(tmpdir(), 'inlet-ddl-load-'))
    })
    after(async () => {
      await server?.stop()
      rmSync(dir, { recursive: true, force: true })
    })

    for (const script of [true, false]) {
      for (const scd of [1, 2] as const) {
        test(`${script ? 'with' : 'without'} the DDL tracking script, SCD${scd}`, async () => {
          const db = `load_${script ? 's' : 'r'}${scd}`
          await createDatabase(server, db, SCHEMA)
          if (script) await sql(server, db, ddlTrackingScript('install'))
          const destination = join(dir, `${db}.duckdb`)
          // SCD2 tables are copied again only when asked (history is replaced): here, asked.
          const config = resolveConfig({ scd, auto_refresh: 'all', tables: ['public.*'] }, { source: [server.url(db)], destination: `duckdb:${destination}`, slot: `inlet_${db}` }, {})
          const { log, lines } = captureLog()
          const stop = new AbortController()
          const running = runPipeline({ config, signal: stop.signal, log })

          // The workload touches only id and qty, which every step keeps.
          const workload = new pg.Client(server.url(db))
          await workload.connect()
          let working = true
          let n = 0
          const writing = (async () => {
            while (working) {
              n++
              const id = 1 + ((n * 37) % 2000)
              await workload.query(`begin; update items set qty = qty + 1 where id = ${id}; insert into items (id, qty) values (${10000 + n}, ${n}); delete from items where id = ${2000 - (n % 500)}; commit`)
              await new Promise((r) => setTimeout(r, 5))
            }
          })()
          const ddl = new pg.Client(server.url(db))
          await ddl.connect()
          try {
            while (!lines.some((l) => l.includes('"stream.start"'))) await new Promise((r) => setTimeout(r, 50))
            for (const step of STEPS) {
              if (step.scriptOnly === true && !script) continue
              await ddl.query(step.ddl).catch((error: Error) => {
                if (!step.ddl.includes('rollback')) throw error
              })
              await new Promise((r) => setTimeout(r, 400))
            }
            await new Promise((r) => setTimeout(r, 500))
          } catch (error) {
            stop.abort()
            await running.catch(() => undefined)
            throw error
          } finally {
            working = false
            await writing
            await workload.end()
            await ddl.end()
          }
          // Caught up: the copies begun are swapped in, and a batch past the workload's end committed.
          for (let i = 0; i < 150; i++) {
            const begun = lines.filter((l) => /"event":"(refresh\.begin|table\.new)"/.test(l)).length
            const done = lines.filter((l) => l.includes('"refresh.done"')).length
            if (begun === done && i >= 10) break
            await new Promise((r) => setTimeout(r, 100))
          }
          stop.abort()
          await running
          const events = (name: string, table: string) => lines.filter((l) => l.includes(`"event":"${name}"`) && l.includes(table)).length
          assert.equal(events('stream.start', ''), 1, 'one stream throughout: no restart for any DDL')
          assert.ok(events('table.new', 'public.fresh') === 1 && events('refresh.done', 'public.fresh') === 1, 'the new table was copied beside the stream')
          assert.ok(events('refresh.done', 'public.items') >= 1, 'items was copied again beside the stream after the type change')

          const { duck, close } = await openDuck(destination)
          try {
            const key = ['id', 'k2']
            assert.deepEqual(await compareTable(duck, { sourceUrl: server.url(db), sourceTable: 'public.items', destTable: 'public.items', scd, key, ignore: ['note', 'name'].filter((c) => c !== 'name' || script) }), [])
            assert.deepEqual(await compareTable(duck, { sourceUrl: server.url(db), sourceTable: 'public.fresh', destTable: 'public.fresh', scd, key: ['id'] }), [])
            if (!script) assert.deepEqual(await compareTable(duck, { sourceUrl: server.url(db), sourceTable: 'public.extra2', destTable: 'public.extra', scd, key: ['id'] }), [])
            const types = Object.fromEntries(((await (await duck.runAndReadAll(`SELECT column_name, column_type FROM (DESCRIBE public.items)`)).getRows()) as string[][]).map((r) => [r[0], r[1]]))
            assert.equal(types.qty, 'BIGINT')
            assert.equal(types.price, 'VARCHAR')
            assert.equal(types.ghost, undefined, 'rolled-back DDL leaves no trace')
            const recorded = (await (await duck.runAndReadAll(`SELECT columns FROM _inlet.tables WHERE dest_table = 'items'`)).getRows()) as string[][]
            const keyNow = (JSON.parse(String(recorded[0]?.[0])) as Array<{ name: string; key: boolean }>).filter((c) => c.key).map((c) => c.name)
            assert.deepEqual(keyNow, ['id', 'k2'], 'items streams under its new primary key')
            const tables = ((await (await duck.runAndReadAll(`SELECT schema_name || '.' || table_name FROM duckdb_tables() WHERE schema_name NOT IN ('_inlet')`)).getRows()) as string[][]).map((r) => r[0]).sort()
            assert.deepEqual(tables, ['public.extra', 'public.fresh', 'public.items'], 'outside the selection: nothing; no copy left beside')
            if (script) {
              const phase = (await (await duck.runAndReadAll(`SELECT phase FROM _inlet.tables WHERE dest_table = 'extra'`)).getRows()) as string[][]
              assert.deepEqual(phase, [['dropped']])
              const last = (await (await duck.runAndReadAll(`SELECT v FROM public.extra WHERE id = 100`)).getRows()) as string[][]
              assert.equal(last.length > 0, true, 'the row written just before the drop arrived')
            }
          } finally {
            close()
          }
        })
      }
    }
  })
}
