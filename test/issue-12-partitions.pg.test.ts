/**
 * Issue 12, partitions (publication without publish_via_partition_root, the setting setup
 * chooses): while `inlet run` streams, a TRUNCATE of one leaf removes exactly its rows, a
 * partition ATTACHed with rows brings them, a DETACHed one takes its rows away (and, published as
 * a table of its own, lands as one), and rows move between partitions; the same happens between
 * two runs (attach and detach while no run streams). SCD1 and SCD2, compared value by value.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { resolveConfig } from '../src/config/load.js'
import type { EmbeddedPostgres } from '../src/embedded/postgres-server.js'
import { runPipeline } from '../src/pipeline/run-pipeline.js'
import { assertEqualTables, openDuck } from './support/compare.js'
import { createDatabase, sql, startServer, testMajors } from './support/servers.js'

const SCHEMA = `
  create table public.events (id int, at date not null, kind text, primary key (id, at)) partition by range (at);
  create table public.events_2024 partition of public.events for values from ('2024-01-01') to ('2025-01-01');
  create table public.events_2025 partition of public.events for values from ('2025-01-01') to ('2026-01-01');
  create table public.events_2026 partition of public.events for values from ('2026-01-01') to ('2027-01-01');
  create table public.logs (at date not null, line text) partition by list (extract(year from at));
  create table public.logs_a partition of public.logs for values in (2024);
  create table public.logs_b partition of public.logs for values in (2025);
  alter table public.logs_a replica identity full;
  alter table public.logs_b replica identity full;
  insert into public.events select g, date '2024-01-01' + (g * 3 % 1000), 'k' || (g % 7) from generate_series(1, 600) g;
  insert into public.logs select date '2024-06-01' + (g % 400), 'same line' from generate_series(1, 80) g;
  create publication inlet_pub for all tables;
`

for (const major of testMajors()) {
  for (const scd of [1, 2] as const) {
    describe(`issue 12: partitions, SCD${scd} (PostgreSQL ${major})`, () => {
      let server: EmbeddedPostgres
      let dir: string
      const db = `parts${scd}`
      const compare = async (destination: string) => {
        const tables = await sql<{ name: string }>(server, db, `select c.relname::text as name from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relispartition order by 1`)
        await assertEqualTables(
          destination,
          tables.map((t) => ({ sourceUrl: server.url(db), sourceTable: `public.${t.name}`, destTable: `public.${t.name}`, scd, key: t.name === 'logs' ? [] : ['id', 'at'] })),
        )
      }
      before(async () => {
        server = await startServer(major)
        dir = mkdtempSync(join(tmpdir(), 'inlet-i12-parts-'))
        await createDatabase(server, db, SCHEMA)
      })
      after(async () => {
        await server?.stop()
        rmSync(dir, { recursive: true, force: true })
      })

      test('truncate, attach, detach and moves while streaming, then while no run streams', async () => {
        const destination = join(dir, 'lake.duckdb')
        const config = resolveConfig({ scd }, { source: [server.url(db)], destination: `duckdb:${destination}` }, {})
        await runPipeline({ config, once: true })
        const stop = new AbortController()
        const running = runPipeline({ config, signal: stop.signal, batch: { maxLatencyMs: 100 } })
        const pause = () => new Promise((r) => setTimeout(r, 700))
        try {
          await pause()
          await sql(server, db, `truncate public.events_2024`)
          await sql(server, db, `insert into public.events values (5000, '2024-05-05', 'after truncate'); truncate public.logs_a`)
          await pause()
          await sql(server, db, `create table public.events_2027 (like public.events including all); insert into public.events_2027 select g, date '2027-03-01' + (g % 200), 'attached' from generate_series(7001, 7100) g`)
          await sql(server, db, `alter table public.events attach partition public.events_2027 for values from ('2027-01-01') to ('2028-01-01')`)
          await sql(server, db, `insert into public.events values (7500, '2027-12-31', 'after attach')`)
          await pause()
          await sql(server, db, `alter table public.events detach partition public.events_2025`)
          await sql(server, db, `update public.events_2025 set kind = 'standalone now' where id % 2 = 0`)
          // A row moving across partitions (its key changes partition).
          await sql(server, db, `update public.events set at = date '2026-06-06' where id = 5000; insert into public.logs values ('2025-02-02', 'same line'), ('2025-02-02', 'same line')`)
          // Wait past the catalog check of partitions (every 5 s).
          await new Promise((r) => setTimeout(r, 6500))
        } finally {
          stop.abort()
          await running
        }
        await runPipeline({ config, once: true })
        await compare(destination)

        // Between runs: one attached with rows, one detached.
        await sql(server, db, `create table public.events_2028 (like public.events including all); insert into public.events_2028 select g, date '2028-01-10', 'between runs' from generate_series(8001, 8040) g`)
        await sql(server, db, `alter table public.events attach partition public.events_2028 for values from ('2028-01-01') to ('2029-01-01'); alter table public.events detach partition public.events_2026`)
        await runPipeline({ config, once: true })
        await compare(destination)
        if (scd === 2) {
          const { duck, close } = await openDuck(destination)
          try {
            const closed = (await (await duck.runAndReadAll(`SELECT count(*) FROM public.events WHERE "__END_AT" IS NOT NULL AND "at" < DATE '2025-01-01'`)).getRows()) as bigint[][]
            assert.ok(Number(closed[0]?.[0]) >= 200, 'the truncated partition\'s versions are closed, not deleted')
          } finally {
            close()
          }
        }
      })
    })
  }
}
