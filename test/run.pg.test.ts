/**
 * `inlet run` end to end: a snapshot taken while a workload writes, streaming during it, then
 * `--once` to catch up; every table compared with its source row by row and value by value, for
 * SCD1 (publication without publish_via_partition_root) and SCD2 (with it), on PostgreSQL 13 and 18.
 * Covers unchanged TOAST values, primary-key moves, tables without a key holding duplicate rows,
 * TRUNCATE, partitions, column exclusion, destination renames and per-table SCD types.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { resolveConfig } from '../src/config/load.js'
import { sampleData, SAMPLE_SCHEMA } from '../src/demo/sample-schema.js'
import { runWorkload } from '../src/demo/workload.js'
import type { EmbeddedPostgres } from '../src/embedded/postgres-server.js'
import { createLogger } from '../src/observability/log.js'
import { runPipeline } from '../src/pipeline/run-pipeline.js'
import { compareTable, openDuck } from './support/compare.js'
import { createDatabase, sql, startServer, testMajors } from './support/servers.js'

const EXTRA_SCHEMA = `
  create table public.moves (id int primary key, note text, big text);
  alter table public.moves alter column big set storage external;
  insert into public.moves select g, 'n' || g, repeat(md5(g::text), 100) from generate_series(1, 40) g;
  create table public.trunc_me (id int primary key, v text);
  insert into public.trunc_me select g, 'v' from generate_series(1, 10) g;
  create table public.wide (id int primary key, keep text, secret text, n numeric(8,3));
  insert into public.wide select g, 'k' || g, 's' || g, g / 7.0 from generate_series(1, 20) g;
  alter table public.page_views replica identity full;
`

const MID_STREAM = `
  update public.moves set id = id + 1000 where id <= 5;
  update public.moves set note = 'changed' where id between 6 and 10;
  begin; update public.moves set note = 'twice' where id = 11; update public.moves set id = 2011 where id = 11; commit;
  delete from public.moves where id between 12 and 14;
  insert into public.moves values (12, 'again', repeat('z', 3000));
  truncate public.trunc_me;
  insert into public.trunc_me values (100, 'after truncate');
  update public.wide set secret = 'new', keep = 'kk' where id < 5;
  delete from public.wide where id = 20;
  insert into public.page_views (viewed_at, path) values ('2026-01-01', '/same'), ('2026-01-01', '/same'), ('2026-01-01', '/same');
  delete from public.page_views where ctid = (select ctid from public.page_views where path = '/same' limit 1);
  update public.page_views set referrer = 'x' where ctid = (select ctid from public.page_views where path = '/same' and referrer is null limit 1);
`

const TABLES: ReadonlyArray<{ name: string; key: string[] }> = [
  { name: 'customers', key: ['id'] },
  { name: 'products', key: ['id'] },
  { name: 'orders', key: ['id'] },
  { name: 'order_items', key: ['order_id', 'line'] },
  { name: 'events', key: ['id', 'at'] },
  { name: 'page_views', key: [] },
  { name: 'moves', key: ['id'] },
  { name: 'trunc_me', key: ['id'] },
]

for (const major of testMajors()) {
  for (const scd of [1, 2] as const) {
    describe(`inlet run, SCD${scd} (PostgreSQL ${major})`, () => {
      let server: EmbeddedPostgres
      let dir: string
      const viaRoot = scd === 2
      before(async () => {
        server = await startServer(major)
        dir = mkdtempSync(join(tmpdir(), 'inlet-run-'))
        await createDatabase(server, 'shop', SAMPLE_SCHEMA + EXTRA_SCHEMA)
        await sql(server, 'shop', sampleData(200))
        await sql(server, 'shop', `create publication inlet_pub for all tables${viaRoot ? ' with (publish_via_partition_root = true)' : ''}`)
      })
      after(async () => {
        await server?.stop()
        rmSync(dir, { recursive: true, force: true })
      })

      test('snapshot under a live workload, streaming, catch-up: every table equals its source', async () => {
        const destination = join(dir, 'lake.duckdb')
        const config = resolveConfig(
          {
            scd,
            tables: ['public.*', { table: 'public.wide', as: 'renamed.wide_copy', exclude_columns: ['secret'], scd: scd === 1 ? 2 : 1 }],
          },
          { source: [server.url('shop')], destination: `duckdb:${destination}` },
          {},
        )
        const stopWorkload = new AbortController()
        const workload = runWorkload(server.url('shop'), stopWorkload.signal, 150)
        const stopRun = new AbortController()
        const batches: number[] = []
        const log = process.env.INLET_TEST_LOG === '1' ? createLogger({ json: true }) : undefined
        const run = runPipeline({ config, signal: stopRun.signal, batch: { maxLatencyMs: 100 }, onBatch: (b) => batches.push(b.changes), ...(log === undefined ? {} : { log }) })
        await new Promise((r) => setTimeout(r, 1500))
        await sql(server, 'shop', MID_STREAM)
        await new Promise((r) => setTimeout(r, 1500))
        stopWorkload.abort()
        const { transactions } = await workload
        stopRun.abort()
        const first = await run
        assert.ok(first.snapshotRows > 1000, `snapshot copied ${first.snapshotRows} rows`)
        assert.ok(batches.length > 1, 'changes were applied in several batches while the workload ran')
        assert.ok(transactions > 100)
        const second = await runPipeline({ config, once: true, ...(log === undefined ? {} : { log }) })
        assert.equal(second.snapshotRows, 0, 'the second run copies nothing again')

        const { duck, close } = await openDuck(destination)
        try {
          const problems: string[] = []
          for (const t of TABLES) {
            problems.push(...(await compareTable(duck, { sourceUrl: server.url('shop'), sourceTable: `public.${t.name}`, destTable: `public.${t.name}`, scd, key: t.key })))
          }
          problems.push(...(await compareTable(duck, { sourceUrl: server.url('shop'), sourceTable: '(select id, keep, n from public.wide) w', destTable: 'renamed.wide_copy', scd: scd === 1 ? 2 : 1, key: ['id'] })))
          assert.deepEqual(problems, [])
          const columns = (await (await duck.runAndReadAll(`SELECT column_name FROM duckdb_columns() WHERE table_name = 'wide_copy'`)).getRowObjectsJS()).map((r) => r.column_name)
          assert.ok(!columns.includes('secret'), 'excluded column is not in the destination')
          // TOAST: the moved and updated rows kept their large values.
          const big = await (await duck.runAndReadAll(`SELECT count(*) AS n FROM public.moves WHERE big IS NULL${scd === 2 ? '' : ''}`)).getRowObjectsJS()
          assert.equal(Number(big[0]?.n), 0, 'no large value was lost to an unchanged-TOAST update')
          if (scd === 2) {
            const history = await (await duck.runAndReadAll(`SELECT count(*) AS n FROM public.moves WHERE id = 6`)).getRowObjectsJS()
            assert.equal(Number(history[0]?.n), 2, 'an update adds a version and closes the old one')
            const closed = await (await duck.runAndReadAll(`SELECT count(*) AS n FROM public.trunc_me WHERE "__END_AT" IS NOT NULL`)).getRowObjectsJS()
            assert.equal(Number(closed[0]?.n), 10, 'TRUNCATE closes every current version')
          }
        } finally {
          close()
        }
      })
    })
  }
}
