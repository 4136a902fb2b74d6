/**
 * The DDL tracking script on a real server: what it records for each kind of DDL, that rolled-back
 * DDL leaves nothing, that it fires under session_replication_role = replica, that it never breaks
 * a user's DDL, that it pins its search_path, and that install and uninstall are idempotent.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import pg from 'pg'
import type { EmbeddedPostgres } from '../src/embedded/postgres-server.js'
import { ddlTrackingScript } from '../src/source/ddl-tracking.js'
import { createDatabase, sql, startServer, testMajors } from './support/servers.js'

interface AuditRow {
  event: string
  command_tag: string
  object_type: string | null
  object_identity: string | null
  object_subid: number | null
  columns: Array<{ attnum: number; name: string; type: string; dropped: boolean; default: string | null }> | null
  primary_key: number[] | null
  detail: Record<string, unknown> | null
}

for (const major of testMajors()) {
  describe(`DDL tracking script on PostgreSQL ${major}`, () => {
    let server: EmbeddedPostgres
    const audit = async (): Promise<AuditRow[]> =>
      sql<AuditRow>(server, 'ddl', 'select event, command_tag, object_type, object_identity, object_subid, columns, primary_key, detail from inlet.inlet_ddl_audit order by id')
    const clear = () => sql(server, 'ddl', 'delete from inlet.inlet_ddl_audit')

    before(async () => {
      server = await startServer(major)
      await createDatabase(server, 'ddl', 'create role app login password \'app\'; grant create on schema public to app;')
      await sql(server, 'ddl', ddlTrackingScript('install'))
      await sql(server, 'ddl', ddlTrackingScript('install')) // idempotent
    })
    after(async () => server?.stop())

    it('records CREATE TABLE with its columns by attnum and primary key', async () => {
      await clear()
      await sql(server, 'ddl', 'create table public.items (id int primary key, name text not null, price numeric(10,2) default 0)')
      const rows = (await audit()).filter((r) => r.object_type === 'table')
      assert.equal(rows.length, 1)
      const row = rows[0] as AuditRow
      assert.equal(row.command_tag, 'CREATE TABLE')
      assert.equal(row.object_identity, 'public.items')
      assert.deepEqual(row.primary_key, [1])
      assert.deepEqual(row.columns?.map((c) => [c.attnum, c.name, c.type, c.dropped]), [
        [1, 'id', 'integer', false],
        [2, 'name', 'text', false],
        [3, 'price', 'numeric(10,2)', false],
      ])
      assert.equal(row.columns?.[2]?.default, '0')
    })

    it('tells a column rename from drop + add by attnum', async () => {
      await clear()
      await sql(server, 'ddl', 'alter table public.items rename column name to title')
      await sql(server, 'ddl', 'alter table public.items drop column price')
      await sql(server, 'ddl', 'alter table public.items add column price numeric(12,2)')
      const rows = await audit()
      const rename = rows.find((r) => r.command_tag === 'ALTER TABLE' && r.columns?.some((c) => c.name === 'title'))
      assert.ok(rename !== undefined)
      assert.equal(rename.columns?.find((c) => c.name === 'title')?.attnum, 2, 'renamed column keeps attnum 2')
      const drop = rows.find((r) => r.event === 'sql_drop' && r.object_type === 'table column')
      assert.equal(drop?.object_identity, 'public.items.price')
      const last = rows.filter((r) => r.event === 'ddl_command_end').at(-1)
      assert.deepEqual(last?.columns?.map((c) => [c.attnum, c.dropped]), [[1, false], [2, false], [3, true], [4, false]])
      assert.equal(last?.columns?.[3]?.name, 'price')
    })

    it('records a table rewrite, with its reason', async () => {
      await clear()
      await sql(server, 'ddl', 'alter table public.items alter column price type text using price::text')
      const rewrite = (await audit()).find((r) => r.event === 'table_rewrite')
      assert.equal(rewrite?.object_identity, 'public.items')
      assert.equal(typeof rewrite?.detail?.reason, 'number')
    })

    it('records DROP TABLE, and nothing for DDL that rolls back', async () => {
      await clear()
      const client = new pg.Client(server.url('ddl'))
      await client.connect()
      await client.query('begin')
      await client.query('create table public.ghost (id int)')
      await client.query('rollback')
      await client.end()
      assert.deepEqual(await audit(), [])
      await sql(server, 'ddl', 'drop table public.items')
      const drops = (await audit()).filter((r) => r.event === 'sql_drop' && r.object_type === 'table')
      assert.deepEqual(drops.map((r) => r.object_identity), ['public.items'])
    })

    it('fires under session_replication_role = replica (ENABLE ALWAYS)', async () => {
      await clear()
      await sql(server, 'ddl', `set session_replication_role = replica; create table public.restored (id int primary key);`)
      assert.ok((await audit()).some((r) => r.object_identity === 'public.restored'))
    })

    it('SET inlet.skip_ddl_audit = on skips recording for that session only', async () => {
      await clear()
      await sql(server, 'ddl', `set inlet.skip_ddl_audit = on; create table public.unrecorded (id int);`)
      assert.deepEqual(await audit(), [])
      await sql(server, 'ddl', `create table public.recorded (id int)`)
      assert.ok((await audit()).some((r) => r.object_identity === 'public.recorded'))
    })

    it('records DDL by an ordinary role, who cannot touch the audit table itself', async () => {
      await clear()
      const client = new pg.Client(server.url('ddl', 'app', 'app'))
      await client.connect()
      try {
        await client.query('create table public.app_table (id int)')
        await assert.rejects(client.query('insert into inlet.inlet_ddl_audit (event, command_tag, tracking_version) values (1, 1, 1)'), /permission denied/)
      } finally {
        await client.end()
      }
      assert.ok((await audit()).some((r) => r.object_identity === 'public.app_table'))
    })

    it('never breaks the user\'s DDL, even when recording fails', async () => {
      await sql(server, 'ddl', 'alter table inlet.inlet_ddl_audit add constraint refuse_all check (false) not valid')
      try {
        const client = new pg.Client(server.url('ddl'))
        const notices: string[] = []
        client.on('notice', (n) => notices.push(n.message ?? ''))
        await client.connect()
        await client.query('create table public.still_works (id int)')
        await client.end()
        const [row] = await sql<{ ok: boolean }>(server, 'ddl', `select to_regclass('public.still_works') is not null as ok`)
        assert.equal(row?.ok, true)
        assert.ok(notices.some((n) => n.startsWith('inlet DDL tracking could not record')), notices.join('\n'))
      } finally {
        await sql(server, 'ddl', 'alter table inlet.inlet_ddl_audit drop constraint refuse_all')
      }
    })

    it('runs its functions with a pinned search_path, as SECURITY DEFINER', async () => {
      const rows = await sql<{ proname: string; prosecdef: boolean; proconfig: string[] }>(
        server,
        'ddl',
        `select proname, prosecdef, proconfig from pg_proc p join pg_namespace n on n.oid = p.pronamespace
         where n.nspname = 'inlet' and proname like 'on\\_%' order by proname`,
      )
      assert.deepEqual(rows.map((r) => r.proname), ['on_ddl_command_end', 'on_sql_drop', 'on_table_rewrite'])
      for (const r of rows) {
        assert.equal(r.prosecdef, true)
        assert.deepEqual(r.proconfig, ['search_path=pg_catalog, pg_temp'])
      }
    })

    it('uninstalls completely, twice', async () => {
      await sql(server, 'ddl', ddlTrackingScript('uninstall'))
      await sql(server, 'ddl', ddlTrackingScript('uninstall'))
      const [left] = await sql<Record<string, number>>(
        server,
        'ddl',
        `select (select count(*)::int from pg_event_trigger) as triggers,
                (select count(*)::int from pg_namespace where nspname = 'inlet') as schemas`,
      )
      assert.deepEqual(left, { triggers: 0, schemas: 0 })
    })
  })
}
