/**
 * `inlet init` as a newcomer uses it: in a real terminal (tmux), typing the answers to its
 * questions, for two databases on one server; then `inlet run --once` with the config it wrote
 * copies the chosen tables equal to the source. And the same without questions (--yes), the
 * refusals (no terminal, an existing config) and that no password reaches the screen or the file.
 */
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { parse } from 'yaml'
import type { EmbeddedPostgres } from '../src/embedded/postgres-server.js'
import { assertEqualTables, openDuck } from './support/compare.js'
import { PROJECT_ROOT, createDatabase, runCli, sql, startServer, testMajors } from './support/servers.js'
import { TerminalSession, hasTmux } from './support/terminal-session.js'

const REPLICATION_PASSWORD = 'Init-Repl-9f2c'

const SHOP = `
  create table public.audit_log (id int primary key, line text);
  create table public.customers (id int primary key, name text not null, ssn text, note text);
  create table public.events (at timestamptz not null, kind text, payload jsonb);
  create table public.orders (id bigint primary key, customer_id int, amount numeric(12,2), placed timestamptz);
  insert into public.audit_log select g, md5(g::text) from generate_series(1, 50) g;
  insert into public.customers select g, 'name ' || md5(g::text), md5('ssn' || g), string_agg(md5(g::text || r::text), '') from generate_series(1, 300) g, generate_series(1, 80) r group by g;
  insert into public.events select timestamptz '2026-01-01' + g * interval '1 minute', 'kind' || (g % 7), jsonb_build_object('g', g, 'tags', jsonb_build_array('a', g % 3)) from generate_series(1, 400) g;
  insert into public.orders select g, g % 300 + 1, (g * 37 % 10000) / 7.0, timestamptz '2026-02-01' + g * interval '13 seconds' from generate_series(1, 1000) g;
  analyze;`

const requireTmux = process.env.INLET_TEST_REQUIRE_TMUX === '1'

for (const major of testMajors()) {
  describe(`inlet init on PostgreSQL ${major}`, () => {
    let server: EmbeddedPostgres
    before(async () => {
      server = await startServer(major)
      await createDatabase(server, 'shop', SHOP)
      await createDatabase(server, 'crm-eu', `create table public.contacts (id int primary key, email text); insert into public.contacts select g, 'c' || g || '@example.com' from generate_series(1, 120) g;`)
    })
    after(async () => server?.stop())

    it('in a terminal: two databases, chosen tables, SCD2 and an excluded column, then run copies them', { skip: !hasTmux() && !requireTmux ? 'tmux is not installed' : false }, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'inlet-init-'))
      const home = mkdtempSync(join(tmpdir(), 'inlet-home-'))
      const lake = join(dir, 'lake.duckdb')
      const term = TerminalSession.start([process.execPath, join(PROJECT_ROOT, 'bin', 'inlet.js'), 'init'], dir, { HOME: home, PATH: process.env.PATH ?? '/usr/bin:/bin', NO_COLOR: '1', TERM: 'xterm' })
      try {
        await term.waitForPrompt(/^Admin connection .*URL:$/)
        term.answer(`postgres://postgres@127.0.0.1:${server.port}/shop?sslmode=disable`)
        await term.waitForPrompt(/^Password for postgres \(not stored\):$/)
        term.answer(server.password)
        await term.waitForPrompt(/^Replication user .*\[inlet\]:$/)
        term.answer('')
        const list = await term.waitForPrompt(/^Tables to replicate.*\[all\]:$/)
        assert.match(list, /PostgreSQL \d+\.\d+, self-managed PostgreSQL/)
        assert.match(list, /^\s+3\s+public\.events\s+\S+ \S+\s+~400\s+none\s+default\s+.*! DEFAULT without a primary key$/m)
        assert.match(list, /^\s+2\s+public\.customers\s+.*~300\s+id\s+default\s+name, ssn, note$/m)
        assert.match(list, /needs REPLICA IDENTITY FULL/)
        term.answer('2-4')
        await term.waitForPrompt(/^Tables that keep every version.*none:$/)
        term.answer('customers')
        await term.waitForPrompt(/^Columns never to copy.*none:$/)
        term.answer('public.customers.id')
        await term.waitForPrompt(/^Columns never to copy.*none:$/)
        assert.match(term.screen(), /id is part of public\.customers's primary key/)
        term.answer('public.customers.ssn')
        const plan = await term.waitForPrompt(/^Apply the \d+ steps above to postgres@127\.0\.0\.1:\d+\/shop now\? \[y\/N\]:$/)
        assert.match(plan, /CREATE ROLE "inlet" WITH LOGIN REPLICATION;/)
        assert.match(plan, /ALTER TABLE "public"\."events" REPLICA IDENTITY FULL;/)
        assert.match(plan, /CREATE PUBLICATION "inlet_pub" FOR TABLE "public"\."customers", "public"\."events", "public"\."orders"/)
        assert.ok(plan.indexOf('1. PostgreSQL 13 or later') < plan.indexOf('Replication user inlet') && plan.indexOf('Replication user inlet') < plan.indexOf('Publication inlet_pub'), 'the document\'s order')
        term.answer('y')
        await term.waitForPrompt(/^Password for the new replication user inlet:$/)
        term.answer(REPLICATION_PASSWORD)
        await term.waitForPrompt(/^Repeat it:$/)
        term.answer(REPLICATION_PASSWORD)
        const shopDone = await term.waitForPrompt(/^Set up another database on this server\?.*finish:$/)
        assert.match(shopDone, /applied\s+Publication inlet_pub/)
        assert.match(shopDone, /Ready: nothing fails\./)
        // A typo: said why, asked again; what was chosen for shop stands.
        term.answer('crm_eu')
        await term.waitForPrompt(/^Set up another database on this server\?.*finish:$/)
        assert.match(term.screen(), /error INLET-N\d+: .*crm_eu/)
        term.answer('crm-eu')
        await term.waitForPrompt(/^Tables to replicate.*\[all\]:$/)
        term.answer('')
        await term.waitForPrompt(/^Tables that keep every version.*none:$/)
        term.answer('')
        await term.waitForPrompt(/^Columns never to copy.*none:$/)
        term.answer('')
        await term.waitForPrompt(/^Apply the \d+ steps? above to postgres@127\.0\.0\.1:\d+\/crm-eu now\?/)
        term.answer('yes')
        await term.waitForPrompt(/^Set up another database on this server\?.*finish:$/)
        term.answer('')
        await term.waitForPrompt(/^Where the tables land \[duckdb:\.\/inlet\.duckdb\]:$/)
        term.answer(`duckdb:${lake}`)
        const end = await term.waitForPrompt(/^EXIT=\d+$/)
        assert.match(end, /EXIT=0$/m, end)
        assert.match(end, /Wrote inlet\.yaml \(2 databases, no password in it\)/)
        assert.match(end, /inlet run\s+copies the tables/)
        assert.ok(!end.includes(REPLICATION_PASSWORD) && !end.includes(server.password), 'no password on the screen')
      } finally {
        term.kill()
      }

      const text = readFileSync(join(dir, 'inlet.yaml'), 'utf8')
      assert.ok(!text.includes(REPLICATION_PASSWORD) && !text.includes(server.password), 'no password in the file')
      assert.match(text, /^# .*PGPASSWORD/m)
      const config = parse(text) as { destination: string; sources: Array<{ name: string; url: string; slot: string; tables: unknown[] }> }
      assert.equal(config.destination, `duckdb:${lake}`)
      assert.deepEqual(config.sources.map((s) => [s.name, s.slot, s.url]), [
        ['shop', 'inlet_shop', `postgres://inlet@127.0.0.1:${server.port}/shop?sslmode=disable`],
        ['crm_eu', 'inlet_crm_eu', `postgres://inlet@127.0.0.1:${server.port}/crm-eu?sslmode=disable`],
      ])
      assert.deepEqual(config.sources[0]?.tables, ['public.events', 'public.orders', { table: 'public.customers', scd: 2, exclude_columns: ['ssn'] }])

      const run = await runCli(['run', '--once', '--config', join(dir, 'inlet.yaml')], { PGPASSWORD: REPLICATION_PASSWORD, HOME: home })
      assert.equal(run.code, 0, run.stderr)
      const shop = `postgres://inlet:${REPLICATION_PASSWORD}@127.0.0.1:${server.port}/shop?sslmode=disable`
      const crm = `postgres://inlet:${REPLICATION_PASSWORD}@127.0.0.1:${server.port}/crm-eu?sslmode=disable`
      await assertEqualTables(lake, [
        { sourceUrl: shop, sourceTable: 'public.customers', destTable: 'shop.customers', scd: 2, key: ['id'], exclude: ['ssn'] },
        { sourceUrl: shop, sourceTable: 'public.events', destTable: 'shop.events' },
        { sourceUrl: shop, sourceTable: 'public.orders', destTable: 'shop.orders', key: ['id'] },
        { sourceUrl: crm, sourceTable: 'public.contacts', destTable: 'crm_eu.contacts', key: ['id'] },
      ])
      const { duck, close } = await openDuck(lake)
      try {
        const columns = (await (await duck.runAndReadAll(`SELECT column_name FROM duckdb_columns() WHERE schema_name = 'shop' AND table_name = 'customers'`)).getRowObjectsJS()).map((r) => r.column_name)
        assert.ok(!columns.includes('ssn') && columns.includes('note'), `excluded column absent: ${columns.join(', ')}`)
        const tables = (await (await duck.runAndReadAll(`SELECT schema_name || '.' || table_name AS t FROM duckdb_tables() WHERE schema_name NOT LIKE '\\_inlet%' ESCAPE '\\' ORDER BY 1`)).getRowObjectsJS()).map((r) => r.t)
        assert.deepEqual(tables, ['crm_eu.contacts', 'shop.customers', 'shop.events', 'shop.orders'], 'audit_log was not chosen')
      } finally {
        close()
      }
    })

    it('in a terminal: a password in --source never shows; Ctrl-C at a question stops with U006, writing nothing', { skip: !hasTmux() && !requireTmux ? 'tmux is not installed' : false }, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'inlet-init-cancel-'))
      const secret = 'Src-Secret-77'
      const term = TerminalSession.start([process.execPath, join(PROJECT_ROOT, 'bin', 'inlet.js'), 'init', '--source', `postgres://inlet:${secret}@127.0.0.1:${server.port}/shop?sslmode=disable`], dir, { HOME: dir, PATH: process.env.PATH ?? '/usr/bin:/bin', NO_COLOR: '1', TERM: 'xterm' })
      try {
        const first = await term.waitForPrompt(/^Admin connection .*URL \[postgres:\/\/inlet@127\.0\.0\.1:\d+\/shop\?sslmode=disable\]:$/)
        assert.ok(!first.includes(secret), first)
        term.answer(`postgres://postgres@127.0.0.1:${server.port}/shop?sslmode=disable`)
        await term.waitForPrompt(/^Password for postgres \(not stored\):$/)
        term.keys('C-c')
        const end = await term.waitForPrompt(/^EXIT=\d+$/)
        assert.match(end, /INLET-U006: inlet init was cancelled at a question/)
        assert.match(end, /EXIT=1$/m)
        assert.ok(!end.includes(secret))
      } finally {
        term.kill()
      }
      assert.ok(!existsSync(join(dir, 'inlet.yaml')), 'nothing written')
    })

    it('with --yes and flags: asks nothing, applies, writes the config; run copies the tables', async () => {
      await createDatabase(server, 'scripted', `create table public.items (id int primary key, label text, secret text); create table public.logs (line text); insert into public.items select g, md5(g::text), 's' || g from generate_series(1, 200) g; insert into public.logs select md5(g::text) from generate_series(1, 50) g;
        create table public.measures (id int, at date, v int, primary key (id, at)) partition by range (at);
        create table public.measures_2025 partition of public.measures for values from ('2025-01-01') to ('2026-01-01');
        create table public.measures_2026 partition of public.measures for values from ('2026-01-01') to ('2027-01-01');
        insert into public.measures select g, date '2025-06-01' + (g % 400), g * 7 from generate_series(1, 300) g; analyze;`)
      const dir = mkdtempSync(join(tmpdir(), 'inlet-init-yes-'))
      const output = join(dir, 'pipeline.yaml')
      const lake = join(dir, 'lake.duckdb')
      const admin = `postgres://postgres:${server.password}@127.0.0.1:${server.port}/scripted?sslmode=disable`
      const args = ['init', '--yes', '--admin', admin, '--user', 'scripted_repl', '--tables', 'public.*', '--exclude', 'public.items.secret', '--destination', `duckdb:${lake}`, '--output', output]
      const noPassword = await runCli(args, { HOME: dir })
      assert.equal(noPassword.code, 1, noPassword.stdout + noPassword.stderr)
      assert.match(noPassword.stderr, /INLET-U001/)
      assert.ok(!existsSync(output), 'nothing written when setup could not finish')

      const result = await runCli(args, { HOME: dir, INLET_REPLICATION_PASSWORD: REPLICATION_PASSWORD })
      assert.equal(result.code, 0, result.stdout + result.stderr)
      assert.ok(!(result.stdout + result.stderr).includes(server.password) && !(result.stdout + result.stderr).includes(REPLICATION_PASSWORD))
      assert.match(result.stdout, /ALTER TABLE "public"\."logs" REPLICA IDENTITY FULL;/)
      // A partitioned table is one entry, its partitions' sizes and rows summed.
      assert.match(result.stdout, /^\s+\d+\s+public\.measures\s+[\d.]+ kB\s+~300\s+id, at\s/m)
      assert.doesNotMatch(result.stdout, /^\s+\d+\s+public\.measures_202/m)
      assert.match(result.stdout, /Ready: nothing fails\./)
      assert.match(result.stdout, /inlet run --config /)
      const config = parse(readFileSync(output, 'utf8')) as { sources: Array<{ tables: unknown[]; replication_user: string }> }
      assert.deepEqual(config.sources[0]?.tables, ['public.*', { table: 'public.items', exclude_columns: ['secret'] }])
      assert.equal(config.sources[0]?.replication_user, 'scripted_repl')

      const again = await runCli(args, { HOME: dir, INLET_REPLICATION_PASSWORD: REPLICATION_PASSWORD })
      assert.equal(again.code, 1)
      assert.match(again.stderr, /INLET-U005: .*pipeline\.yaml exists/)
      const forced = await runCli([...args, '--force'], { HOME: dir, INLET_REPLICATION_PASSWORD: REPLICATION_PASSWORD })
      assert.equal(forced.code, 0, forced.stderr)
      assert.match(forced.stdout, /Nothing to apply: every step is done already\./)

      // A later database that fails keeps the earlier one's config.
      const partial = join(dir, 'partial.yaml')
      const failing = await runCli([...args.slice(0, -1), partial, '--database', 'scripted', '--database', 'no_such_db'], { HOME: dir, INLET_REPLICATION_PASSWORD: REPLICATION_PASSWORD })
      assert.notEqual(failing.code, 0)
      assert.match(failing.stderr, /Wrote .*partial\.yaml for the 1 database set up before this stopped \(scripted\)/)
      assert.match(failing.stderr, /INLET-N\d+: .*no_such_db/)
      assert.deepEqual((parse(readFileSync(partial, 'utf8')) as { sources: Array<{ name: string }> }).sources.map((s) => s.name), ['scripted'])
      const badPublication = await runCli([...args.slice(0, -1), join(dir, 'never.yaml'), '--publication', 'my-pub'], { HOME: dir, INLET_REPLICATION_PASSWORD: REPLICATION_PASSWORD })
      assert.equal(badPublication.code, 2)
      assert.match(badPublication.stderr, /INLET-C004: --publication: my-pub is not a plain identifier/)
      const badOutput = await runCli([...args.slice(0, -1), join(dir, 'missing', 'x.yaml')], { HOME: dir, INLET_REPLICATION_PASSWORD: REPLICATION_PASSWORD })
      assert.equal(badOutput.code, 2)
      assert.match(badOutput.stderr, /INLET-C004: --output: the directory .*missing does not exist or is not writable/)

      const run = await runCli(['run', '--once', '--config', output], { PGPASSWORD: REPLICATION_PASSWORD, HOME: dir })
      assert.equal(run.code, 0, run.stderr)
      const source = `postgres://scripted_repl:${REPLICATION_PASSWORD}@127.0.0.1:${server.port}/scripted?sslmode=disable`
      await assertEqualTables(lake, [
        { sourceUrl: source, sourceTable: 'public.items', destTable: 'public.items', key: ['id'], exclude: ['secret'] },
        { sourceUrl: source, sourceTable: 'public.logs', destTable: 'public.logs' },
        { sourceUrl: source, sourceTable: 'public.measures', destTable: 'public.measures', key: ['id', 'at'] },
      ])
    })

    it('refuses without a terminal and without --yes, and bad flags before anything is applied', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'inlet-init-no-tty-'))
      const noTty = await runCli(['init', '--admin', server.url('shop')], { HOME: dir })
      assert.equal(noTty.code, 1)
      assert.match(noTty.stderr, /INLET-U004: inlet init asks its questions on a terminal/)
      assert.match(noTty.stderr, /fix: INLET_REPLICATION_PASSWORD=... inlet init --yes/)
      const badTables = await runCli(['init', '--yes', '--admin', server.url('shop'), '--tables', 'public.nope', '--publication', 'refused_pub', '--output', join(dir, 'y.yaml')], { HOME: dir, INLET_REPLICATION_PASSWORD: 'x' })
      assert.equal(badTables.code, 2, badTables.stderr)
      assert.match(badTables.stderr, /INLET-C004: --tables: public\.nope matches no table/)
      assert.ok(!badTables.stderr.includes(server.password))
      const badDestination = await runCli(['init', '--yes', '--admin', server.url('shop'), '--destination', 'parquet:/tmp/x', '--publication', 'refused_pub', '--output', join(dir, 'z.yaml')], { HOME: dir })
      assert.equal(badDestination.code, 2)
      assert.match(badDestination.stderr, /INLET-C004: --destination: use duckdb:FILE/)
      await createDatabase(server, 'empty')
      const empty = await runCli(['init', '--yes', '--admin', server.url('empty'), '--output', join(dir, 'e.yaml')], { HOME: dir, INLET_REPLICATION_PASSWORD: 'x' })
      assert.equal(empty.code, 2, empty.stderr)
      assert.match(empty.stdout, /empty has no tables to replicate; skipped/)
      assert.match(empty.stderr, /INLET-C006: No database with tables was set up/)
      const [publications] = await sql<{ n: string }>(server, 'shop', `select count(*)::text as n from pg_publication where pubname = 'refused_pub'`)
      assert.equal(publications?.n, '0', 'a refused init applies nothing')
      assert.ok(!existsSync(join(dir, 'y.yaml')) && !existsSync(join(dir, 'z.yaml')), 'and writes nothing')
    })
  })
}
