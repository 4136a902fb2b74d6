/**
 * A failover with PostgreSQL 17+ failover slots: Inlet streams from a primary whose slot the
 * server synchronizes to a physical hot standby; the primary goes away with changes Inlet has not
 * read yet, the standby is promoted, and `inlet run` pointed at it continues from the synchronized
 * slot: nothing lost, nothing applied twice (the synchronized slot may stand behind Inlet's
 * checkpoint), SCD1 and SCD2 equal to the new primary value by value.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import type { EmbeddedPostgres } from '../src/embedded/postgres-server.js'
import { assertEqualTables } from './support/compare.js'
import { createDatabase, runCli, sql, startServer, testMajors } from './support/servers.js'
import { startStandby } from './support/standby.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 90_000): Promise<void> {
  const until = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await sleep(250)
  }
}

/** One round of changes to both tables: inserts, updates of earlier rows, deletes. */
async function workload(server: EmbeddedPostgres, round: number): Promise<void> {
  const from = round * 100 + 1
  await sql(
    server,
    'shop',
    `begin;
     insert into orders select g, md5(random()::text) || ' ' || g, (random() * 1000)::numeric(12,2) from generate_series(${from}, ${from + 99}) g;
     update orders set note = 'round ${round} ' || md5(random()::text) where id % 7 = ${round % 7};
     delete from orders where id % 13 = ${round % 13} and id < ${from};
     insert into accounts values (${round}, 'acct ${round}', ${round}) on conflict (id) do update set balance = accounts.balance + 1;
     update accounts set name = 'moved in ${round}' where id % 3 = ${round % 3};
     commit`,
  )
}

const majors = testMajors().filter((m) => m >= 17)
for (const major of majors) {
  describe(`failover to a promoted standby (PostgreSQL ${major})`, () => {
    let primary: EmbeddedPostgres
    let dir: string
    before(async () => {
      primary = await startServer(major, { hot_standby: true })
      dir = mkdtempSync(join(tmpdir(), 'inlet-failover-'))
      await createDatabase(
        primary,
        'shop',
        `create table orders (id int primary key, note text, amount numeric(12,2));
         insert into orders select g, md5(g::text), g from generate_series(1, 100) g;
         create table accounts (id int primary key, name text, balance int);
         insert into accounts values (-1, 'first', 0);
         create publication inlet_pub for table orders, accounts;`,
      )
    })
    after(async () => {
      await primary?.stop()
      rmSync(dir, { recursive: true, force: true })
    })

    test('inlet run continues on the promoted standby from the synchronized failover slot', { timeout: 300_000 }, async () => {
      const destination = join(dir, 'lake.duckdb')
      const config = (url: string) => {
        const file = join(dir, 'inlet.yaml')
        writeFileSync(file, `sources:\n  - url: ${url}\n    slot: inlet_shop\n    failover: true\ndestination: duckdb:${destination}\ntables:\n  - public.orders\n  - table: public.accounts\n    scd: 2\n`)
        return file
      }
      const run = async (url: string) => {
        const r = await runCli(['run', '--once', '--json', '--config', config(url)])
        assert.equal(r.code, 0, r.stderr)
        return r.stderr
      }
      await run(primary.url('shop'))
      const [slot] = await sql<{ failover: boolean }>(primary, 'shop', `select failover from pg_replication_slots where slot_name = 'inlet_shop'`)
      assert.equal(slot?.failover, true, 'the slot is a failover slot')

      const { standby, dispose } = await startStandby(primary, 'standby1')
      try {
        await sql(primary, 'postgres', `alter system set synchronized_standby_slots = 'standby1'`)
        await sql(primary, 'postgres', `select pg_reload_conf()`)
        const doctor = await runCli(['doctor', '--json', '--config', config(primary.url('shop'))])
        assert.match(doctor.stdout + doctor.stderr, /FAILOVER_OK/, 'doctor sees the failover setup')

        // Streamed from the primary until the standby holds the slot, synchronized and usable.
        let round = 1
        await waitFor('the slot synchronized to the standby', async () => {
          await workload(primary, round++)
          await run(primary.url('shop'))
          const rows = await sql<{ synced: boolean; temporary: boolean }>(standby, 'postgres', `select synced, temporary from pg_replication_slots where slot_name = 'inlet_shop'`)
          return rows[0]?.synced === true && rows[0]?.temporary === false
        })
        const [consumed] = await sql<{ lsn: string }>(primary, 'postgres', `select confirmed_flush_lsn::text as lsn from pg_replication_slots where slot_name = 'inlet_shop'`)

        // Changes Inlet has not read when the primary goes away.
        for (let i = 0; i < 3; i++) await workload(primary, round++)
        const [end] = await sql<{ lsn: string }>(primary, 'postgres', `select pg_current_wal_lsn()::text as lsn`)
        await waitFor('the standby to replay the primary', async () => {
          const [r] = await sql<{ caught: boolean }>(standby, 'postgres', `select pg_last_wal_replay_lsn() >= $1::pg_lsn as caught`, [end?.lsn])
          return r?.caught === true
        })
        // The primary is lost (its files too).
        await primary.stop()

        const [promoted] = await sql<{ ok: boolean }>(standby, 'postgres', `select pg_promote(true, 60) as ok`)
        assert.equal(promoted?.ok, true, 'the standby was promoted')
        const [held] = await sql<{ lsn: string }>(standby, 'postgres', `select confirmed_flush_lsn::text as lsn from pg_replication_slots where slot_name = 'inlet_shop'`)
        assert.ok(held !== undefined, 'the promoted standby has the slot')
        const [notAhead] = await sql<{ ok: boolean }>(standby, 'postgres', `select $1::pg_lsn <= $2::pg_lsn as ok`, [held.lsn, consumed?.lsn])
        assert.equal(notAhead?.ok, true, `the synchronized slot (${held.lsn}) holds the changes Inlet had not read (after ${consumed?.lsn})`)

        const newPrimary = standby.url('shop')
        await run(newPrimary)
        await workload(standby, round++)
        await run(newPrimary)
        await assertEqualTables(destination, [
          { sourceUrl: newPrimary, sourceTable: 'public.orders', destTable: 'public.orders' },
          { sourceUrl: newPrimary, sourceTable: 'public.accounts', destTable: 'public.accounts', scd: 2, key: ['id'] },
        ])
      } finally {
        await dispose()
      }
    })
  })
}
