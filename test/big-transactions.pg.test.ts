/**
 * Big transactions through `inlet run` as a user runs it (the CLI, `--once`), with the server told
 * to stream (PG 14+) or spill them as soon as they pass 64 kB of changes: a committed 1 GB
 * transaction, an aborted 300 MB one, savepoints rolled back inside a big one, and an ALTER TABLE
 * on the same table after the transaction's first part was staged. Each run must finish (no
 * stall), stay within the default memory_limit (DuckDB included),
 * and leave the destination equal to the source, value by value.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { defaultMemoryLimit } from '../src/config/memory-budget.js'
import type { EmbeddedPostgres } from '../src/embedded/postgres-server.js'
import { scratchRoot } from '../src/destination/scratch.js'
import { assertEqualTables } from './support/compare.js'
import { createDatabase, runCliMeasured, sql, startServer, testMajors } from './support/servers.js'

/** Peak RSS allowed: the default memory_limit, 288 MB (measured peaks 230-270 MB, the highest at the commit of the whole transaction). */
const MAX_RSS_MB = Number(process.env.INLET_TEST_MAX_RSS_MB ?? defaultMemoryLimit() / 1024 / 1024)

const majors = testMajors()
for (const major of majors) {
  // A quarter of the 1 GB in npm test (250 MB, still far past memory_limit and
  // logical_decoding_work_mem, so it spills all the same; 6 min for the full size on PostgreSQL 18
  // alone is a fifth of CI's budget); all of it in npm run test:big and test:matrix.
  const rows = process.env.INLET_TEST_BIG === 'full' ? 1_000_000 : 250_000
  const r = (fraction: number) => Math.round(rows * fraction)
  describe(`big transactions through inlet run (PostgreSQL ${major}, ${rows} rows of 1 kB)`, () => {
    let server: EmbeddedPostgres
    let dir: string
    let destination: string
    const run = async (what: string) => {
      const result = await runCliMeasured(['run', '--once', '--json', '--source', server.url('shop'), '--destination', `duckdb:${destination}`], 900_000)
      assert.equal(result.timedOut, false, `${what}: the run stalled (killed after 15 min): ${result.stderr.slice(-1500)}`)
      assert.equal(result.code, 0, `${what}: ${result.stderr.slice(-1500)}`)
      assert.ok(result.peakRssMB < MAX_RSS_MB, `${what}: peak RSS ${result.peakRssMB} MB`)
      return result
    }
    const compare = (scd: 1 | 2 = 1) => assertEqualTables(destination, [{ sourceUrl: server.url('shop'), sourceTable: 'public.big', destTable: 'public.big', scd, key: ['id'] }])

    before(async () => {
      server = await startServer(major, { logical_decoding_work_mem: '64kB', max_wal_size: '4GB', checkpoint_timeout: '30min' })
      dir = mkdtempSync(join(tmpdir(), 'inlet-big-'))
      destination = join(dir, 'lake.duckdb')
      await createDatabase(server, 'shop', `create table big (id bigint primary key, pad text, n int); alter table big set (autovacuum_enabled = false); create publication inlet_pub for all tables`)
      await run('first run')
    })
    after(async () => {
      await server?.stop()
      rmSync(dir, { recursive: true, force: true })
    })

    test('a committed 1 GB transaction, then an aborted 300 MB one', { timeout: 1_200_000 }, async () => {
      // About 1,000 bytes a row of varied text: 1 GB of tuple data in one transaction.
      await sql(server, 'shop', `insert into big select g, md5(g::text) || repeat(md5((g * 7)::text) || md5((g * 13)::text), 15) || lpad(g::text, 8, '0'), 0 from generate_series(1, ${rows}) g`)
      await sql(server, 'shop', `begin; insert into big select g, repeat(md5(g::text), 30), 0 from generate_series(2000001, ${2_000_000 + r(0.3)}) g; rollback`).catch(() => undefined)
      const result = await run('1 GB transaction')
      assert.match(result.stderr, new RegExp(`${rows} changes applied`))
      await compare()
      const root = scratchRoot(join(dir, 'lake.duckdb'))
      assert.deepEqual(existsSync(root) ? readdirSync(root) : [], [], 'no scratch directory left')
    })

    test('savepoints rolled back inside a big transaction', { timeout: 600_000 }, async () => {
      await sql(server, 'shop', `begin; update big set n = 1 where id <= ${r(0.3)}; savepoint s; delete from big where id <= ${r(0.5)}; rollback to s; delete from big where id > ${r(0.9)}; savepoint t; update big set n = 2 where id between ${r(0.6)} and ${r(0.7)}; release t; savepoint u; insert into big select g, 'gone', 0 from generate_series(3000001, ${3_000_000 + r(0.1)}) g; rollback to u; commit`)
      await run('savepoints')
      const [counts] = await sql<{ n: string; ones: string; twos: string }>(server, 'shop', `select count(*) as n, count(*) filter (where n = 1) as ones, count(*) filter (where n = 2) as twos from big`)
      assert.deepEqual(counts, { n: String(r(0.9)), ones: String(r(0.3)), twos: String(r(0.7) - r(0.6) + 1) })
      await compare()
    })

    test('ALTER TABLE on the same table after the first part of the transaction was staged', { timeout: 600_000 }, async () => {
      // (The type change first: a rewrite after ADD COLUMN ... DEFAULT would store the default in
      // every row without row events, which only the DDL tracking script lets Inlet see.)
      await sql(server, 'shop', `begin; update big set n = n + 10 where id <= ${r(0.4)}; alter table big alter column n type bigint; update big set n = n * 1000000000 where id <= 1000; alter table big add column extra text default 'x'; update big set extra = md5(id::text) where id % 3 = 0 and id <= ${r(0.3)}; update big set pad = 'p' where id > ${r(0.899)}; commit`)
      await run('ALTER after staging')
      await compare()
      // Restarting changes nothing (the transaction is not applied again).
      await run('rerun')
      await compare()
    })
  })
}
