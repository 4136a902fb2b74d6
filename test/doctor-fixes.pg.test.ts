/**
 * For each prerequisite the source-setup document names, a database broken in exactly that way:
 * doctor must report the finding's code, its printed fix must work when applied as is, and doctor
 * must then pass (exit 0).
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { resolveConfig } from '../src/config/load.js'
import type { EmbeddedPostgres } from '../src/embedded/postgres-server.js'
import { runDoctor, type DoctorReport } from '../src/source/preflight/doctor.js'
import type { Finding, FindingCode } from '../src/source/preflight/finding.js'
import { createDatabase, sql, startServer, testMajors } from './support/servers.js'

interface Broken {
  noReplication?: boolean
  noSalesGrants?: boolean
  noPublication?: boolean
  salesNotPublished?: boolean
  noSlot?: boolean
  extraSql?: string
}

/** A database prepared the way setup would, except for what `broken` says. */
async function prepare(server: EmbeddedPostgres, db: string, broken: Broken = {}): Promise<void> {
  const user = `u_${db}`
  await createDatabase(
    server,
    db,
    `create schema sales;
     create table public.customers (id int primary key, score int);
     create table sales.orders (id bigint primary key, amount int);
     create role "${user}" login ${broken.noReplication === true ? '' : 'replication'} password 'pw';
     grant select on all tables in schema public to "${user}";
     ${broken.noSalesGrants === true ? '' : `grant usage on schema sales to "${user}"; grant select on all tables in schema sales to "${user}";`}
     ${broken.noPublication === true ? '' : `create publication inlet_pub for table public.customers${broken.salesNotPublished === true ? '' : ', sales.orders'} with (publish_via_partition_root = true);`}
     ${broken.extraSql ?? ''}`,
  )
  if (broken.noSlot !== true) await sql(server, db, `select pg_create_logical_replication_slot('inlet_${db}', 'pgoutput')`)
}

async function doctor(server: EmbeddedPostgres, db: string, tables?: string): Promise<DoctorReport> {
  const config = resolveConfig({}, { source: [server.url(db, `u_${db}`, 'pw')], ...(tables === undefined ? {} : { tables }) }, {})
  return runDoctor(config)
}

function findingsOf(report: DoctorReport): readonly Finding[] {
  const source = report.sources[0]
  assert.ok(source !== undefined)
  assert.equal(source.error, undefined, `doctor could not check: ${JSON.stringify(source.error)}`)
  return source.findings
}

function expectFinding(report: DoctorReport, code: FindingCode, level: Finding['level']): Finding {
  const finding = findingsOf(report).find((f) => f.code === code)
  assert.ok(finding !== undefined, `expected ${code}, got ${findingsOf(report).map((f) => `${f.level}:${f.code}`).join(' ')}`)
  assert.equal(finding.level, level, `${code} level`)
  return finding
}

function assertPasses(report: DoctorReport): void {
  const failing = findingsOf(report).filter((f) => f.level === 'fail')
  assert.deepEqual(failing.map((f) => f.code), [], failing.map((f) => f.message).join('\n'))
  assert.equal(report.exitCode, 0)
}

/** Applies a finding's fix exactly as printed, as the superuser, one statement at a time as psql does. */
async function applyFix(server: EmbeddedPostgres, db: string, finding: Finding): Promise<void> {
  assert.ok(finding.fix !== undefined, `${finding.code} has no fix`)
  let statement = ''
  for (const line of finding.fix.split('\n')) {
    const code = line.replace(/--.*$/, '').trim()
    if (code === '') continue
    statement += `${code}\n`
    if (code.endsWith(';')) {
      await sql(server, db, statement)
      statement = ''
    }
  }
  assert.equal(statement.trim(), '', 'fix ends with a complete statement')
}

for (const major of testMajors()) {
  describe(`doctor on PostgreSQL ${major}: every broken prerequisite is found, and its printed fix works`, () => {
    let server: EmbeddedPostgres
    before(async () => {
      server = await startServer(major, { wal_level: 'replica', max_replication_slots: 24 })
    })
    after(async () => server?.stop())

    it('wal_level = replica: WAL_LEVEL_NOT_LOGICAL, fixed by ALTER SYSTEM and a restart', async () => {
      await prepare(server, 'wal', { noSlot: true })
      const finding = expectFinding(await doctor(server, 'wal'), 'WAL_LEVEL_NOT_LOGICAL', 'fail')
      assert.match(finding.fix ?? '', /ALTER SYSTEM SET wal_level = 'logical'/)
      await applyFix(server, 'wal', finding)
      await server.restart()
      await sql(server, 'wal', `select pg_create_logical_replication_slot('inlet_wal', 'pgoutput')`)
      const report = await doctor(server, 'wal')
      expectFinding(report, 'WAL_LEVEL_LOGICAL', 'ok')
      assertPasses(report)
    })

    it('role without REPLICATION: ROLE_NO_REPLICATION', async () => {
      await prepare(server, 'norepl', { noReplication: true, noSlot: true })
      const finding = expectFinding(await doctor(server, 'norepl'), 'ROLE_NO_REPLICATION', 'fail')
      assert.equal(finding.fix, 'ALTER ROLE "u_norepl" WITH REPLICATION;')
      await applyFix(server, 'norepl', finding)
      await applySlotFix(server, 'norepl')
      const report = await doctor(server, 'norepl')
      expectFinding(report, 'ROLE_REPLICATION_OK', 'ok')
      assertPasses(report)
    })

    it('missing USAGE and SELECT grants: listed as GRANT statements', async () => {
      await prepare(server, 'grants', { noSalesGrants: true })
      const report = await doctor(server, 'grants')
      const usage = expectFinding(report, 'ROLE_NO_SCHEMA_USAGE', 'fail')
      const select = expectFinding(report, 'ROLE_NO_SELECT', 'fail')
      assert.equal(usage.fix, 'GRANT USAGE ON SCHEMA "sales" TO "u_grants";')
      assert.match(select.fix ?? '', /GRANT SELECT ON "sales"\."orders" TO "u_grants";/)
      assert.match(select.fix ?? '', /ALTER DEFAULT PRIVILEGES IN SCHEMA "sales" GRANT SELECT ON TABLES TO "u_grants";/)
      await applyFix(server, 'grants', usage)
      await applyFix(server, 'grants', select)
      const fixed = await doctor(server, 'grants')
      expectFinding(fixed, 'ROLE_PRIVILEGES_OK', 'ok')
      assertPasses(fixed)
    })

    it('missing publication: PUBLICATION_MISSING, then a table missing from it', async () => {
      await prepare(server, 'nopub', { noPublication: true, noSlot: true })
      const missing = expectFinding(await doctor(server, 'nopub', 'public.customers,sales.orders'), 'PUBLICATION_MISSING', 'fail')
      assert.equal(missing.fix, 'CREATE PUBLICATION "inlet_pub" FOR TABLE "public"."customers", "sales"."orders";')
      await applyFix(server, 'nopub', missing)
      await applySlotFix(server, 'nopub')
      assertPasses(await doctor(server, 'nopub', 'public.customers,sales.orders'))

      await prepare(server, 'partpub', { salesNotPublished: true })
      const lacking = expectFinding(await doctor(server, 'partpub', 'public.*,sales.*'), 'PUBLICATION_MISSING_TABLES', 'fail')
      assert.deepEqual(lacking.details?.tables, ['sales.orders'])
      await applyFix(server, 'partpub', lacking)
      const fixed = await doctor(server, 'partpub', 'public.*,sales.*')
      expectFinding(fixed, 'PUBLICATION_OK', 'ok')
      assertPasses(fixed)
    })

    it('table without primary key under DEFAULT: REPLICA_IDENTITY_MISSING, fixed by FULL', async () => {
      await prepare(server, 'nopk', { extraSql: `create table public.events (at timestamptz, kind int); grant select on public.events to u_nopk; alter publication inlet_pub add table public.events;` })
      const finding = expectFinding(await doctor(server, 'nopk'), 'REPLICA_IDENTITY_MISSING', 'fail')
      assert.deepEqual(finding.details?.tables, ['public.events'])
      await applyFix(server, 'nopk', finding)
      const fixed = await doctor(server, 'nopk')
      assert.match(expectFinding(fixed, 'REPLICA_IDENTITY_OK', 'ok').message, /public\.events \(FULL, no primary key \(required\)\)/)
      assertPasses(fixed)
    })

    it('table with TOAST-able columns: REPLICA_IDENTITY_TOAST explains DEFAULT is enough, and doctor passes', async () => {
      await prepare(server, 'toast', { extraSql: `create table public.products (id int primary key, description text, photo bytea); grant select on public.products to u_toast; alter publication inlet_pub add table public.products;` })
      const report = await doctor(server, 'toast')
      const finding = expectFinding(report, 'REPLICA_IDENTITY_TOAST', 'info')
      assert.match(finding.message, /public\.products \(primary key, TOAST-able description, photo\)/)
      assertPasses(report)
    })

    it('max_slot_wal_keep_size = -1: WAL_KEEP_SIZE_UNLIMITED with a suggested size, applied with a reload', async () => {
      await prepare(server, 'keep')
      const finding = expectFinding(await doctor(server, 'keep'), 'WAL_KEEP_SIZE_UNLIMITED', 'warn')
      assert.match(finding.fix ?? '', /ALTER SYSTEM SET max_slot_wal_keep_size = '\d+GB';\nSELECT pg_reload_conf\(\);/)
      await applyFix(server, 'keep', finding)
      const fixed = await doctor(server, 'keep')
      expectFinding(fixed, 'WAL_KEEP_SIZE_OK', 'ok')
      const slot = expectFinding(fixed, 'SLOT_OK', 'ok')
      assert.equal(typeof slot.details?.safe_wal_size, 'number', 'safe_wal_size is reported once the limit is finite')
      assertPasses(fixed)
    })

    it('no free replication slot: SLOTS_EXHAUSTED, fixed by raising max_replication_slots', async () => {
      await prepare(server, 'full', { noSlot: true })
      const [{ used }] = await sql<{ used: number }>(server, 'postgres', 'select count(*)::int as used from pg_replication_slots') as [{ used: number }]
      const [{ max }] = await sql<{ max: number }>(server, 'postgres', `select current_setting('max_replication_slots')::int as max`) as [{ max: number }]
      for (let i = used; i < max; i++) await sql(server, 'postgres', `select pg_create_physical_replication_slot('filler_${i}')`)
      const finding = expectFinding(await doctor(server, 'full'), 'SLOTS_EXHAUSTED', 'fail')
      await applyFix(server, 'full', finding)
      await server.restart()
      await applySlotFix(server, 'full')
      const fixed = await doctor(server, 'full')
      expectFinding(fixed, 'SLOTS_OK', 'ok')
      assertPasses(fixed)
      await sql(server, 'postgres', `select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name like 'filler\\_%'`)
    })

    it('slot of the wrong plugin: SLOT_WRONG_PLUGIN, fixed by dropping and recreating it', async () => {
      await prepare(server, 'plugin', { noSlot: true })
      await sql(server, 'plugin', `select pg_create_logical_replication_slot('inlet_plugin', 'test_decoding')`)
      const finding = expectFinding(await doctor(server, 'plugin'), 'SLOT_WRONG_PLUGIN', 'fail')
      assert.match(finding.message, /test_decoding/)
      await applyFix(server, 'plugin', finding)
      const fixed = await doctor(server, 'plugin')
      expectFinding(fixed, 'SLOT_OK', 'ok')
      assertPasses(fixed)
    })

    it('slot of another database: SLOT_OTHER_DATABASE', async () => {
      await prepare(server, 'otherdb', { noSlot: true })
      await sql(server, 'postgres', `select pg_create_logical_replication_slot('inlet_otherdb', 'pgoutput')`)
      const finding = expectFinding(await doctor(server, 'otherdb'), 'SLOT_OTHER_DATABASE', 'fail')
      assert.match(finding.message, /belongs to database postgres/)
      await sql(server, 'postgres', `select pg_drop_replication_slot('inlet_otherdb')`)
    })

    it('an active slot is reported with the process that holds it', async () => {
      await prepare(server, 'held')
      const holder = await import('pg').then((m) => new m.default.Client({ connectionString: server.url('held'), application_name: 'someone_else', replication: 'database' } as never))
      await holder.connect()
      try {
        const stream = holder.query(`START_REPLICATION SLOT inlet_held LOGICAL 0/0 (proto_version '1', publication_names 'inlet_pub')`)
        stream.catch(() => undefined)
        let finding: Finding | undefined
        for (let i = 0; i < 50 && finding === undefined; i++) {
          finding = findingsOf(await doctor(server, 'held')).find((f) => f.code === 'SLOT_ACTIVE')
          if (finding === undefined) await new Promise((r) => setTimeout(r, 100))
        }
        assert.ok(finding !== undefined, 'SLOT_ACTIVE reported')
        assert.equal(finding.level, 'warn')
        assert.match(finding.message, /application 'someone_else'/)
        assert.match(finding.fix ?? '', /pg_terminate_backend\(\d+\)/)
      } finally {
        await holder.end().catch(() => undefined)
      }
    })
  })
}

/** The slot fix doctor prints when the slot is missing, applied as printed. */
async function applySlotFix(server: EmbeddedPostgres, db: string): Promise<void> {
  const finding = expectFinding(await doctor(server, db), 'SLOT_MISSING', 'warn')
  await applyFix(server, db, finding)
}
