/**
 * `inlet refresh`: a table is copied again beside itself while an update/delete storm runs on it,
 * the old table stays readable (read during the refresh), the copy replaces it atomically, and
 * after catching up the destination equals the source, including rows edited by hand before.
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
import { createLogger } from '../src/observability/log.js'
import { compareTable, openDuck } from './support/compare.js'
import { createDatabase, runCli, startServer, testMajors } from './support/servers.js'

for (const major of testMajors()) {
  describe(`inlet refresh (PostgreSQL ${major})`, () => {
    let server: EmbeddedPostgres
    let dir: string
    before(async () => {
      server = await startServer(major)
      dir = mkdtempSync(join(tmpdir(), 'inlet-refresh-'))
      await createDatabase(
        server,
        'shop',
        `create table items (id int primary key, name text, qty int);
         insert into items select g, 'item ' || g, g % 50 from generate_series(1, 20000) g;
         create table other (id int primary key, v text); insert into other values (1, 'a');
         create publication inlet_pub for table items, other;`,
      )
    })
    after(async () => {
      await server?.stop()
      rmSync(dir, { recursive: true, force: true })
    })

    test('under an update/delete storm, old table readable throughout, equal to the source after', async () => {
      const destination = join(dir, 'lake.duckdb')
      const config = resolveConfig({}, { source: [server.url('shop')], destination: `duckdb:${destination}`, slot: 'inlet_shop' }, {})
      await runPipeline({ config, once: true })
      // Hand edits only a new copy repairs.
      const edit = await openDuck(destination)
      await edit.duck.run(`DELETE FROM public.items WHERE id <= 10; UPDATE public.items SET name = 'tampered' WHERE id BETWEEN 20 AND 30`)
      edit.close()

      const refresh = await runCli(['refresh', '--source', server.url('shop'), '--destination', `duckdb:${destination}`, '--slot', 'inlet_shop', 'public.items'])
      assert.equal(refresh.code, 0, refresh.stderr)
      const typo = await runCli(['refresh', '--source', server.url('shop'), '--destination', `duckdb:${destination}`, '--slot', 'inlet_shop', 'public.items', 'public.nope'])
      assert.equal(typo.code, 2, 'an unknown table is refused')
      assert.match(typo.stderr, /No streaming table public\.nope/)

      const storm = new pg.Client(server.url('shop'))
      await storm.connect()
      let stop = false
      let n = 0
      const storming = (async () => {
        while (!stop) {
          n++
          await storm.query(`begin; update items set qty = qty + 1, name = 'storm ${n}' where id % 97 = ${n % 97}; delete from items where id = ${20000 - n}; insert into items values (${100000 + n}, 'new', 1); commit`)
        }
      })()
      const seen: Array<{ old: number; tampered: number; copy: number }> = []
      try {
        await runPipeline({
          config,
          once: true,
          onRefreshLoaded: async (query, table, copy) => {
            const [old] = await query<{ n: bigint; tampered: bigint }>(`SELECT count(*) AS n, count(*) FILTER (WHERE name = 'tampered') AS tampered FROM ${table}`)
            const [fresh] = await query<{ n: bigint }>(`SELECT count(*) AS n FROM ${copy}`)
            seen.push({ old: Number(old?.n), tampered: Number(old?.tampered), copy: Number(fresh?.n) })
          },
        })
      } finally {
        stop = true
        await storming
        await storm.end()
      }
      assert.equal(seen.length, 1, 'one refresh ran')
      assert.equal(seen[0]?.tampered, 11, 'the old table was readable, as it was, while the copy loaded')
      assert.ok((seen[0]?.copy ?? 0) > 19000, `the copy holds the table (${seen[0]?.copy} rows)`)

      await runPipeline({ config, once: true })
      const { duck, close } = await openDuck(destination)
      try {
        assert.deepEqual(await compareTable(duck, { sourceUrl: server.url('shop'), sourceTable: 'public.items', destTable: 'public.items' }), [])
        assert.deepEqual(await compareTable(duck, { sourceUrl: server.url('shop'), sourceTable: 'public.other', destTable: 'public.other' }), [])
        const leftovers = (await (await duck.runAndReadAll(`SELECT table_name FROM duckdb_tables() WHERE table_name LIKE '%inlet_refresh%'`)).getRows()) as string[][]
        assert.deepEqual(leftovers, [])
        const flags = (await (await duck.runAndReadAll(`SELECT count(*) FROM _inlet.tables WHERE refresh_requested`)).getRows()) as bigint[][]
        assert.equal(Number(flags[0]?.[0]), 0)
      } finally {
        close()
      }
    })

    test('a slot lost behind its back: a clear error, then --resync recovers to equality', async () => {
      const destination = join(dir, 'lake.duckdb')
      const config = resolveConfig({}, { source: [server.url('shop')], destination: `duckdb:${destination}`, slot: 'inlet_shop' }, {})
      const admin = new pg.Client(server.url('shop'))
      await admin.connect()
      try {
        await admin.query(`select pg_drop_replication_slot('inlet_shop')`)
        // Changes the lost slot would have carried.
        await admin.query(`update items set name = 'lost' where id between 100 and 120; delete from items where id between 200 and 210; insert into other values (2, 'b')`)
      } finally {
        await admin.end()
      }
      await assert.rejects(runPipeline({ config, once: true }), (error: unknown) => error instanceof InletError && error.code === 'INLET-S006' && /inlet run --resync/.test(error.fix ?? ''))
      await runPipeline({ config, once: true, resync: true })
      const { duck, close } = await openDuck(destination)
      try {
        assert.deepEqual(await compareTable(duck, { sourceUrl: server.url('shop'), sourceTable: 'public.items', destTable: 'public.items' }), [])
        assert.deepEqual(await compareTable(duck, { sourceUrl: server.url('shop'), sourceTable: 'public.other', destTable: 'public.other' }), [])
      } finally {
        close()
      }
      // And it streams on from the new slot.
      await runCli(['run', '--once', '--source', server.url('shop'), '--destination', `duckdb:${destination}`, '--slot', 'inlet_shop']).then((r) => assert.equal(r.code, 0, r.stderr))
    })

    test('a table created while streaming is copied and streamed by the same run', async () => {
      await createDatabase(server, 'grow', `create table a (id int primary key, v text); insert into a values (1, 'x'); create publication inlet_pub for all tables;`)
      const destination = join(dir, 'grow.duckdb')
      const config = resolveConfig({}, { source: [server.url('grow')], destination: `duckdb:${destination}`, slot: 'inlet_grow' }, {})
      await runPipeline({ config, once: true })
      const lines: string[] = []
      const log = createLogger({ json: true, stream: { write: (line: string) => lines.push(line), isTTY: false } as unknown as NodeJS.WriteStream })
      const stop = new AbortController()
      const running = runPipeline({ config, signal: stop.signal, log })
      await new Promise((r) => setTimeout(r, 1500))
      const c = new pg.Client(server.url('grow'))
      await c.connect()
      try {
        await c.query(`create table b (id int primary key, w text); insert into b select g, 'w' || g from generate_series(1, 500) g; update a set v = 'y'`)
        await new Promise((r) => setTimeout(r, 3000))
        await c.query(`update b set w = 'late' where id <= 10; delete from b where id > 490`)
        await new Promise((r) => setTimeout(r, 2000))
      } finally {
        await c.end()
        stop.abort()
        await running
      }
      assert.ok(lines.some((l) => l.includes('"plan.changed"')), 'the run saw the new table')
      assert.ok(lines.some((l) => l.includes('"snapshot.table"') && l.includes('public.b')), 'and copied it')
      const { duck, close } = await openDuck(destination)
      try {
        for (const t of ['a', 'b']) assert.deepEqual(await compareTable(duck, { sourceUrl: server.url('grow'), sourceTable: `public.${t}`, destTable: `public.${t}` }), [])
      } finally {
        close()
      }
    })
  })
}
