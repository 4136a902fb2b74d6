/**
 * `inlet refresh`: a table is copied again beside itself while an update/delete storm runs on it,
 * the old table stays readable (read during the refresh), the copy replaces it atomically, and
 * after catching up the destination equals the source, including rows edited by hand before.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { resolveConfig } from '../src/config/load.js'
import type { EmbeddedPostgres } from '../src/embedded/postgres-server.js'
import { InletError } from '../src/errors/inlet-error.js'
import { runPipeline } from '../src/pipeline/run-pipeline.js'
import { assertEqualTables, compareTable, openDuck } from './support/compare.js'
import { captureLog, createDatabase, PROJECT_ROOT, runCli, sql, startServer, testMajors } from './support/servers.js'

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
          await storm.query(`begin; update items set qty = qty + 1, name = 'storm ${n}' where id % 97 = ${n % 97}; delete from items where id = ${20000 - n}; insert into items values (${100000 + n}, 'new', 1); update other set v = 'storm ${n}'; commit`)
        }
      })()
      const seen: Array<{ old: number; tampered: number; copy: number; otherMoved: boolean }> = []
      try {
        await runPipeline({
          config,
          once: true,
          onRefreshLoaded: async (query, table, copy) => {
            const [old] = await query<{ n: bigint; tampered: bigint }>(`SELECT count(*) AS n, count(*) FILTER (WHERE name = 'tampered') AS tampered FROM ${table}`)
            const [fresh] = await query<{ n: bigint }>(`SELECT count(*) AS n FROM ${copy}`)
            // The other table keeps streaming while this copy waits to be swapped in.
            const otherNow = async () => (await query<{ v: string }>(`SELECT v FROM public.other WHERE id = 1`))[0]?.v
            const first = await otherNow()
            let otherMoved = false
            for (let i = 0; i < 50 && !otherMoved; i++) {
              await new Promise((r) => setTimeout(r, 100))
              otherMoved = (await otherNow()) !== first
            }
            seen.push({ old: Number(old?.n), tampered: Number(old?.tampered), copy: Number(fresh?.n), otherMoved })
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
      assert.equal(seen[0]?.otherMoved, true, 'public.other streamed while public.items was being copied')

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
      const { log, lines } = captureLog()
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
      assert.ok(lines.some((l) => l.includes('"table.new"') && l.includes('public.b')), 'the run saw the new table')
      assert.ok(lines.some((l) => l.includes('"refresh.done"') && l.includes('public.b')), 'and copied it beside the stream')
      assert.equal(lines.filter((l) => l.includes('"stream.start"')).length, 1, 'without restarting the stream')
      const { duck, close } = await openDuck(destination)
      try {
        for (const t of ['a', 'b']) assert.deepEqual(await compareTable(duck, { sourceUrl: server.url('grow'), sourceTable: `public.${t}`, destTable: `public.${t}` }), [])
      } finally {
        close()
      }
    })

    test('a table added to the publication while streaming, with no change after: copied all the same', async () => {
      await createDatabase(server, 'pub', `create table a (id int primary key); create table e (id int primary key, v text); insert into e select g, 'e' || g from generate_series(1, 1000) g; create publication inlet_pub for table a;`)
      const destination = join(dir, 'pub.duckdb')
      const config = resolveConfig({}, { source: [server.url('pub')], destination: `duckdb:${destination}`, slot: 'inlet_pub' }, {})
      const { log, lines } = captureLog()
      const stop = new AbortController()
      const running = runPipeline({ config, signal: stop.signal, log })
      try {
        while (!lines.some((l) => l.includes('"stream.start"'))) await new Promise((r) => setTimeout(r, 50))
        await sql(server, 'pub', 'alter publication inlet_pub add table e')
        for (let i = 0; i < 150 && !lines.some((l) => l.includes('"refresh.done"') && l.includes('public.e')); i++) await new Promise((r) => setTimeout(r, 100))
      } finally {
        stop.abort()
        await running
      }
      assert.ok(lines.some((l) => l.includes('"table.new"') && l.includes('public.e')), lines.join(''))
      await assertEqualTables(destination, [{ sourceUrl: server.url('pub'), sourceTable: 'public.e', destTable: 'public.e' }])
    })

    test('a table marked for a refresh and then dropped in the source: the run goes on without it', async () => {
      await createDatabase(server, 'gone', `create table g (id int primary key); insert into g values (1); create table k (id int primary key); create publication inlet_pub for all tables;`)
      const destination = join(dir, 'gone.duckdb')
      const flags = ['--source', server.url('gone'), '--destination', `duckdb:${destination}`, '--slot', 'inlet_gone']
      await runCli(['run', '--once', ...flags]).then((r) => assert.equal(r.code, 0, r.stderr))
      await runCli(['refresh', ...flags, 'public.g']).then((r) => assert.equal(r.code, 0, r.stderr))
      await sql(server, 'gone', 'drop table g; insert into k values (1)')
      const run = await runCli(['run', '--once', '--json', ...flags])
      assert.equal(run.code, 0, run.stderr)
      assert.match(run.stderr, /"refresh\.skip"/)
      await assertEqualTables(destination, [{ sourceUrl: server.url('gone'), sourceTable: 'public.k', destTable: 'public.k' }])
    })

    test('a refresh is never asked through the source: a plain role\'s inlet.refresh message changes nothing; inlet refresh without the run\'s socket says the way out', async () => {
      const destination = join(dir, 'lake.duckdb')
      const flags = ['--source', server.url('shop'), '--destination', `duckdb:${destination}`, '--slot', 'inlet_shop']
      const config = resolveConfig({}, { source: [server.url('shop')], destination: `duckdb:${destination}`, slot: 'inlet_shop' }, {})
      await runPipeline({ config, once: true })
      const edit = await openDuck(destination)
      await edit.duck.run(`UPDATE public.items SET name = 'tampered' WHERE id BETWEEN 40 AND 45`)
      edit.close()
      await sql(server, 'shop', `drop role if exists plain; create role plain login password 'plain-secret'`)
      const { log, lines } = captureLog()
      const stop = new AbortController()
      // (In-process, without the local socket a CLI run serves.)
      const running = runPipeline({ config, signal: stop.signal, log })
      const plainUrl = new URL(server.url('shop'))
      plainUrl.username = 'plain'
      plainUrl.password = 'plain-secret'
      const plain = new pg.Client(plainUrl.toString())
      await plain.connect()
      try {
        while (!lines.some((l) => l.includes('"stream.start"'))) await new Promise((r) => setTimeout(r, 50))
        if (major >= 14) {
          // What an earlier Inlet obeyed, written by a role with no privilege at all.
          await plain.query(`SELECT pg_logical_emit_message(false, 'inlet.refresh', $1)`, [JSON.stringify({ slot: 'inlet_shop', refresh: [['public', 'items']] })])
          await sql(server, 'shop', `update other set v = 'after the message'`)
          for (let i = 0; i < 100 && !lines.some((l) => l.includes('"refresh.message"')); i++) await new Promise((r) => setTimeout(r, 100))
          assert.ok(lines.some((l) => l.includes('"refresh.message"')), 'the message is reported as ignored')
        }
        const asked = await runCli(['refresh', ...flags, 'public.items'])
        assert.equal(asked.code, 2, asked.stderr)
        assert.match(asked.stderr, /held by a running inlet run[\s\S]*Run inlet refresh on the machine/)
        await new Promise((r) => setTimeout(r, 1500))
      } finally {
        await plain.end()
        stop.abort()
        await running
      }
      assert.ok(!lines.some((l) => /"refresh\.(begin|start)"/.test(l)), 'no refresh began')
      const { duck, close } = await openDuck(destination)
      try {
        const tampered = (await (await duck.runAndReadAll(`SELECT count(*) FROM public.items WHERE name = 'tampered'`)).getRows()) as bigint[][]
        assert.equal(Number(tampered[0]?.[0]), 6, 'the table was not copied again')
        assert.deepEqual(await compareTable(duck, { sourceUrl: server.url('shop'), sourceTable: 'public.other', destTable: 'public.other' }), [])
      } finally {
        close()
      }
      // Repaired the supported way: marked while no run holds the destination, copied by the next run.
      await runCli(['refresh', ...flags, 'public.items']).then((r) => assert.equal(r.code, 0, r.stderr))
      await runCli(['run', '--once', ...flags]).then((r) => assert.equal(r.code, 0, r.stderr))
      await assertEqualTables(destination, ['items', 'other'].map((t) => ({ sourceUrl: server.url('shop'), sourceTable: `public.${t}`, destTable: `public.${t}` })))
    })

    test('killed during a background copy: the next run copies the table again and ends equal', async () => {
      const destination = join(dir, 'lake.duckdb')
      const flags = ['--source', server.url('shop'), '--destination', `duckdb:${destination}`, '--slot', 'inlet_shop']
      await runCli(['run', '--once', ...flags]).then((r) => assert.equal(r.code, 0, r.stderr))
      await runCli(['refresh', ...flags, 'public.items']).then((r) => assert.equal(r.code, 0, r.stderr))
      const admin = new pg.Client(server.url('shop'))
      await admin.connect()
      try {
        await admin.query(`update items set qty = -1 where id between 70 and 80`)
        const child = spawn(process.execPath, [join(PROJECT_ROOT, 'bin', 'inlet.js'), 'run', '--json', ...flags], { cwd: PROJECT_ROOT, stdio: ['ignore', 'ignore', 'pipe'] })
        let err = ''
        child.stderr.setEncoding('utf8').on('data', (d: string) => {
          err += d
          if (err.includes('"refresh.start"')) child.kill('SIGKILL')
        })
        const ended = await new Promise<NodeJS.Signals | null>((r) => child.on('close', (_code, signal) => r(signal)))
        assert.equal(ended, 'SIGKILL', err)
        await admin.query(`update items set qty = -2 where id between 81 and 90; delete from items where id between 91 and 95`)
      } finally {
        await admin.end()
      }
      await runCli(['run', '--once', ...flags]).then((r) => assert.equal(r.code, 0, r.stderr))
      const { duck, close } = await openDuck(destination)
      try {
        assert.deepEqual(await compareTable(duck, { sourceUrl: server.url('shop'), sourceTable: 'public.items', destTable: 'public.items' }), [])
        const left = (await (await duck.runAndReadAll(`SELECT count(*) FILTER (WHERE refresh_requested) AS flagged, (SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '%inlet_refresh%') AS copies FROM _inlet.tables`)).getRows()) as bigint[][]
        assert.deepEqual(left[0]?.map(Number), [0, 0], 'no refresh pending, no copy left beside')
      } finally {
        close()
      }
    })
  })
}
