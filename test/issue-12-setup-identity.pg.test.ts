/**
 * Issue 12, setup and identity: `inlet setup --all-tables --apply` fixes the replica identity of
 * every table it publishes; `inlet doctor` with no selection and no publication checks the tables
 * the FOR ALL TABLES it suggests would cover; a table whose REPLICA IDENTITY USING INDEX names a
 * unique index beside its primary key streams deletes, key moves and unchanged TOAST values right
 * (rows are keyed by the identity PostgreSQL sends). Through the CLI, compared value by value.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { EmbeddedPostgres } from '../src/embedded/postgres-server.js'
import { assertEqualTables } from './support/compare.js'
import { createDatabase, runCli, sql, startServer, testMajors } from './support/servers.js'

const SCHEMA = `
  create table public.keyed (id int primary key, v text);
  create table public.no_key (at timestamptz, message text);
  create table public.by_code (id int primary key, code text not null, big text, v int);
  create unique index by_code_code on public.by_code (code);
  alter table public.by_code replica identity using index by_code_code;
  alter table public.by_code alter column big set storage external;
  insert into public.keyed select g, 'k' || g from generate_series(1, 50) g;
  insert into public.no_key select '2026-01-01'::timestamptz + g * interval '1 minute', 'm' || (g % 5) from generate_series(1, 40) g;
  insert into public.by_code select g, 'c' || g, repeat(md5(g::text), 200), g from generate_series(1, 60) g;
  create table public.priced (id int primary key, net numeric(10,2), gross numeric(10,2) generated always as (net * 1.2) stored);
  insert into public.priced (id, net) select g, g * 10 from generate_series(1, 20) g;
`

for (const major of testMajors()) {
  describe(`issue 12: setup, doctor and replica identity (PostgreSQL ${major})`, () => {
    let server: EmbeddedPostgres
    let dir: string
    before(async () => {
      server = await startServer(major)
      dir = mkdtempSync(join(tmpdir(), 'inlet-i12-setup-'))
      await createDatabase(server, 'shop', SCHEMA)
    })
    after(async () => {
      await server?.stop()
      rmSync(dir, { recursive: true, force: true })
    })

    test('doctor with no selection and no publication checks what FOR ALL TABLES would cover', async () => {
      const result = await runCli(['doctor', '--json', '--source', server.url('shop')])
      assert.equal(result.code, 1, result.stderr)
      const report = JSON.parse(result.stdout) as { sources: Array<{ findings: Array<{ code: string; message: string; fix?: string }> }> }
      const findings = report.sources[0]?.findings ?? []
      const missing = findings.find((f) => f.code === 'REPLICA_IDENTITY_MISSING')
      assert.ok(missing !== undefined && /public\.no_key/.test(missing.message), `the table without a key is checked: ${JSON.stringify(findings.map((f) => f.code))}`)
      assert.match(findings.find((f) => f.code === 'PUBLICATION_MISSING')?.fix ?? '', /FOR ALL TABLES/)
      assert.ok(!findings.some((f) => f.code === 'NO_TABLES_SELECTED'))
    })

    test('setup --all-tables --apply fixes every table it publishes; the run then streams them all', async () => {
      const destination = join(dir, 'lake.duckdb')
      const setup = await runCli(['setup', '--apply', '--all-tables', '--source', server.url('shop')])
      assert.equal(setup.code, 0, setup.stderr + setup.stdout)
      const [identity] = await sql<{ ri: string }>(server, 'shop', `select relreplident::text as ri from pg_class where oid = 'public.no_key'::regclass`)
      assert.equal(identity?.ri, 'f', 'the table without a primary key has REPLICA IDENTITY FULL')
      const doctor = await runCli(['doctor', '--source', server.url('shop')])
      assert.equal(doctor.code, 0, doctor.stdout)
      const first = await runCli(['run', '--once', '--source', server.url('shop'), '--destination', `duckdb:${destination}`])
      assert.equal(first.code, 0, first.stderr)
      await sql(
        server,
        'shop',
        `update public.no_key set message = 'changed' where message = 'm1';
         delete from public.no_key where message = 'm2';
         -- by_code: an update with the TOASTed value unchanged, deletes, a move of the identity (code)
         update public.by_code set v = v + 100 where id <= 20;
         delete from public.by_code where id between 21 and 25;
         update public.by_code set code = 'moved' || id where id between 26 and 30;
         update public.by_code set code = 'c26', v = -1 where id = 31;
         update public.priced set net = net + 1 where id <= 5;
         insert into public.by_code values (100, 'c100', repeat('z', 5000), 0);`,
      )
      const second = await runCli(['run', '--once', '--source', server.url('shop'), '--destination', `duckdb:${destination}`])
      assert.equal(second.code, 0, second.stderr)
      // Generated columns: published and copied on 18 (setup asked for them), absent before, as doctor said.
      if (major >= 18) await assertEqualTables(destination, [{ sourceUrl: server.url('shop'), sourceTable: 'public.priced', destTable: 'public.priced' }])
      else {
        await assertEqualTables(destination, [{ sourceUrl: server.url('shop'), sourceTable: '(select id, net from public.priced) p', destTable: 'public.priced' }])
        assert.match(doctor.stdout, /GENERATED_COLUMNS_NOT_PUBLISHED|generated columns/i)
      }
      await assertEqualTables(destination, [
        { sourceUrl: server.url('shop'), sourceTable: 'public.keyed', destTable: 'public.keyed' },
        { sourceUrl: server.url('shop'), sourceTable: 'public.no_key', destTable: 'public.no_key' },
        { sourceUrl: server.url('shop'), sourceTable: 'public.by_code', destTable: 'public.by_code' },
      ])
    })
  })
}
