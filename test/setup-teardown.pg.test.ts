/**
 * `inlet setup --apply` on a fresh database makes `inlet doctor` pass; a second run changes
 * nothing (the catalog is compared before and after); `inlet teardown --yes` leaves nothing behind.
 * All through the real CLI, grepping every output for the passwords.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { EmbeddedPostgres } from '../src/embedded/postgres-server.js'
import { createDatabase, runCli, sql, startServer, testMajors, type CliResult } from './support/servers.js'

const REPLICATION_PASSWORD = 'Repl-Secret-7f3a9c'

/** Everything setup may touch, read from the catalog, to compare runs. */
async function catalogState(server: EmbeddedPostgres, db: string): Promise<unknown> {
  const [row] = await sql(
    server,
    db,
    `select
       (select json_agg(json_build_object('r', rolname, 'repl', rolreplication, 'login', rolcanlogin, 'pw', rolpassword) order by rolname) from pg_authid where rolname = 'inlet') as roles,
       (select json_agg(json_build_object('t', c.relname, 'ri', c.relreplident, 'acl', c.relacl::text) order by c.relname) from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname in ('public', 'sales', 'inlet') and c.relkind in ('r', 'p')) as tables,
       (select json_agg(json_build_object('n', nspname, 'acl', nspacl::text) order by nspname) from pg_namespace where nspname in ('public', 'sales', 'inlet')) as schemas,
       (select json_agg(json_build_object('p', pubname, 'via', pubviaroot, 'all', puballtables)) from pg_publication) as pubs,
       (select json_agg(json_build_object('s', schemaname, 't', tablename) order by schemaname, tablename) from pg_publication_tables) as pubtables,
       (select json_agg(json_build_object('s', slot_name, 'p', plugin, 'restart', restart_lsn::text)) from pg_replication_slots) as slots,
       (select json_agg(json_build_object('e', evtname, 'en', evtenabled) order by evtname) from pg_event_trigger) as triggers,
       (select json_agg(defaclacl::text) from pg_default_acl) as default_acls,
       (select datacl::text from pg_database where datname = current_database()) as db_acl`,
  )
  return row
}

function assertNoSecret(result: CliResult, ...secrets: string[]): void {
  for (const secret of secrets) {
    assert.ok(!result.stdout.includes(secret), `stdout leaks a password:\n${result.stdout}`)
    assert.ok(!result.stderr.includes(secret), `stderr leaks a password:\n${result.stderr}`)
  }
}

for (const major of testMajors()) {
  describe(`setup, doctor, teardown on PostgreSQL ${major}`, () => {
    let server: EmbeddedPostgres
    let admin: string
    let source: string
    const outputs: CliResult[] = []
    const serverLog: string[] = []
    const cli = async (args: string[], env: Record<string, string> = {}): Promise<CliResult> => {
      const result = await runCli(args, env)
      outputs.push(result)
      return result
    }

    before(async () => {
      server = await startServer(major, { log_statement: 'all', log_min_messages: 'info' }, (line) => serverLog.push(line))
      await createDatabase(
        server,
        'shop',
        `create schema sales;
         create table public.customers (id int primary key, name text, email text);
         create table public.products (id int primary key, description text, photo bytea);
         create table public.audit_log (at timestamptz default now(), message text);
         create table sales.orders (id bigint generated always as identity primary key, customer_id int, amount numeric(12,2));
         create table sales.events (id bigint, at date not null, kind text, primary key (id, at)) partition by range (at);
         create table sales.events_2025 partition of sales.events for values from ('2025-01-01') to ('2026-01-01');
         create table sales.events_2026 partition of sales.events for values from ('2026-01-01') to ('2027-01-01');`,
      )
      admin = server.url('shop')
      source = `postgres://inlet@127.0.0.1:${server.port}/shop?sslmode=disable`
    })
    after(async () => server?.stop())

    it('setup without --apply prints the SQL and changes nothing', async () => {
      const before = await catalogState(server, 'shop')
      const result = await cli(['setup', '--source', source, '--admin', admin, '--tables', 'public.*,sales.*', '--ddl-tracking'])
      assert.equal(result.code, 0, result.stderr)
      assert.match(result.stdout, /CREATE ROLE "inlet" WITH LOGIN REPLICATION;\n\\password "inlet"/)
      assert.match(result.stdout, /ALTER TABLE "public"\."audit_log" REPLICA IDENTITY FULL;/)
      assert.match(result.stdout, /CREATE PUBLICATION "inlet_pub" FOR TABLE .*"sales"\."events"[^;]*;/)
      assert.doesNotMatch(result.stdout, /publish_via_partition_root/)
      assert.match(result.stdout, /SELECT pg_create_logical_replication_slot\('inlet_shop', 'pgoutput'\);/)
      assert.match(result.stdout, /kept DEFAULT for .*public\.products.*\(primary key \+ TOAST-able columns\)/)
      assert.deepEqual(await catalogState(server, 'shop'), before)
    })

    it('doctor prints one short line per finding, the failing first; --verbose explains', async () => {
      const short = await cli(['doctor', '--source', admin, '--tables', 'public.*,sales.*'])
      assert.equal(short.code, 1, short.stderr)
      const findings = short.stdout.split('\n').filter((l) => /^  (ok  |info|warn|FAIL)  [A-Z_]+/.test(l))
      assert.ok(findings.length >= 8, short.stdout)
      for (const line of findings) assert.ok(line.length <= 100, `too long (${line.length}): ${line}`)
      const levels = findings.map((l) => ['FAIL', 'warn', 'info', 'ok  '].indexOf(l.slice(2, 6)))
      assert.deepEqual(levels, [...levels].sort((a, b) => a - b), 'failing first, then warnings, notes, ok')
      assert.equal(levels[0], 0, 'something fails on an unprepared database')
      assert.match(short.stdout, /FAIL  PUBLICATION_MISSING[^\n]*\n {8}fix:\n {10}CREATE PUBLICATION/)
      assert.match(short.stdout, /inlet doctor --verbose explains each finding/)
      const verbose = await cli(['doctor', '--verbose', '--source', admin, '--tables', 'public.*,sales.*'])
      assert.equal(verbose.code, 1)
      const long = verbose.stdout.split('\n').filter((l) => /^  (ok  |info|warn|FAIL)  [A-Z_]+/.test(l))
      assert.equal(long.length, findings.length)
      assert.ok(long.some((l) => l.length > 100) && verbose.stdout.length > short.stdout.length, 'the explanations are there')
      assert.doesNotMatch(verbose.stdout, /--verbose explains/)
    })

    it('setup --apply without a password and without a terminal fails clearly and creates nothing', async () => {
      const result = await cli(['setup', '--apply', '--source', source, '--admin', admin, '--tables', 'public.*,sales.*'])
      assert.equal(result.code, 1)
      assert.match(result.stderr, /INLET-U001/)
      assert.match(result.stderr, /INLET_REPLICATION_PASSWORD/)
      assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace')
      const roles = await sql(server, 'shop', `select 1 from pg_roles where rolname = 'inlet'`)
      assert.equal(roles.length, 0)
    })

    it('setup --apply makes doctor pass, as the new replication user', async () => {
      const result = await cli(['setup', '--apply', '--source', source, '--admin', admin, '--tables', 'public.*,sales.*', '--ddl-tracking'], { INLET_REPLICATION_PASSWORD: REPLICATION_PASSWORD })
      assert.equal(result.code, 0, result.stderr)
      assert.match(result.stdout, /applied +Replication user inlet/)
      assert.match(result.stdout, /applied +Replication slot inlet_shop/)
      assert.match(result.stdout, /by hand +Server setting \(WAL_KEEP_SIZE_UNLIMITED\)/)

      const [role] = await sql<{ rolpassword: string; rolreplication: boolean }>(server, 'shop', `select rolpassword, rolreplication from pg_authid where rolname = 'inlet'`)
      assert.ok(role?.rolpassword.startsWith('SCRAM-SHA-256$4096:'), 'stored as a SCRAM verifier')
      assert.equal(role?.rolreplication, true)

      const doctor = await cli(['doctor', '--source', source, '--tables', 'public.*,sales.*', '--json'], { PGPASSWORD: REPLICATION_PASSWORD })
      assert.equal(doctor.code, 0, doctor.stdout + doctor.stderr)
      const report = JSON.parse(doctor.stdout) as { sources: Array<{ findings: Array<{ code: string; level: string }> }> }
      const codes = report.sources[0]?.findings.map((f) => f.code) ?? []
      for (const code of ['WAL_LEVEL_LOGICAL', 'ROLE_REPLICATION_OK', 'ROLE_PRIVILEGES_OK', 'PUBLICATION_OK', 'SLOT_OK', 'DDL_TRACKING_OK', 'REPLICA_IDENTITY_OK', 'REPLICA_IDENTITY_TOAST']) {
        assert.ok(codes.includes(code), `${code} in ${codes.join(' ')}`)
      }
      assert.ok(!codes.includes('ROLE_IS_SUPERUSER'))

      const [slot] = await sql<{ plugin: string; database: string }>(server, 'shop', `select plugin, database from pg_replication_slots where slot_name = 'inlet_shop'`)
      assert.deepEqual(slot, { plugin: 'pgoutput', database: 'shop' })
      const leaves = await sql<{ relname: string; relreplident: string }>(server, 'shop', `select relname, relreplident from pg_class where relname in ('audit_log', 'products', 'events_2025') order by relname`)
      assert.deepEqual(leaves.map((r) => [r.relname, r.relreplident]), [['audit_log', 'f'], ['events_2025', 'd'], ['products', 'd']])
    })

    it('a second setup --apply changes nothing and says so', async () => {
      const before = await catalogState(server, 'shop')
      const result = await cli(['setup', '--apply', '--source', source, '--admin', admin, '--tables', 'public.*,sales.*', '--ddl-tracking'], { INLET_REPLICATION_PASSWORD: REPLICATION_PASSWORD })
      assert.equal(result.code, 0, result.stderr)
      assert.match(result.stdout, /Nothing to change: every step was already done\./)
      assert.doesNotMatch(result.stdout, /applied/)
      assert.deepEqual(await catalogState(server, 'shop'), before)
    })

    it('default privileges let the replication user read tables created later', async () => {
      await sql(server, 'shop', 'create table sales.refunds (id int primary key, amount int)')
      const [row] = await sql<{ ok: boolean }>(server, 'shop', `select has_table_privilege('inlet', 'sales.refunds', 'SELECT') as ok`)
      assert.equal(row?.ok, true)
    })

    it('teardown without --yes and without a terminal refuses and drops nothing', async () => {
      const result = await cli(['teardown', '--source', source, '--admin', admin])
      assert.equal(result.code, 1)
      assert.match(result.stderr, /INLET-U003/)
      assert.equal((await sql(server, 'shop', `select 1 from pg_replication_slots where slot_name = 'inlet_shop'`)).length, 1)
    })

    it('teardown --yes leaves no slot, publication, event trigger or inlet schema', async () => {
      const result = await cli(['teardown', '--yes', '--source', source, '--admin', admin])
      assert.equal(result.code, 0, result.stderr)
      assert.match(result.stdout, /dropped +replication slot inlet_shop/)
      const [left] = await sql<Record<string, number>>(
        server,
        'shop',
        `select (select count(*)::int from pg_replication_slots) as slots,
                (select count(*)::int from pg_publication) as publications,
                (select count(*)::int from pg_event_trigger) as triggers,
                (select count(*)::int from pg_namespace where nspname = 'inlet') as schemas,
                (select count(*)::int from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = 'inlet') as functions`,
      )
      assert.deepEqual(left, { slots: 0, publications: 0, triggers: 0, schemas: 0, functions: 0 })
      const again = await cli(['teardown', '--yes', '--source', source, '--admin', admin])
      assert.equal(again.code, 0)
      assert.doesNotMatch(again.stdout, /dropped/)
    })

    it('never prints a password: not in any output, and not in the server log', async () => {
      for (const result of outputs) assertNoSecret(result, REPLICATION_PASSWORD, server.password)
      // log_statement = all: the server saw only the SCRAM verifier.
      const log = serverLog.join('\n')
      assert.match(log, /CREATE ROLE "inlet" WITH LOGIN REPLICATION PASSWORD 'SCRAM-SHA-256/, 'the statement was logged')
      assert.ok(!log.includes(REPLICATION_PASSWORD), 'the clear password never reached the server')
    })
  })
}
