/**
 * Planning reads the catalogue while the source changes: a table dropped between the catalogue
 * scan of pg_publication_tables and its opening of the table ("could not open relation with
 * OID", found under a DROP while a run adopted a new table) is read again, not a failed run.
 * Made deterministic with the drop's lock: the planner's read waits on it, then the drop commits.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import pg from 'pg'
import { resolveConfig } from '../src/config/load.js'
import { DUCKDB_TYPES } from '../src/destination/duckdb/column-types.js'
import { nameKey } from '../src/destination/duckdb/table-ddl.js'
import type { EmbeddedPostgres } from '../src/embedded/postgres-server.js'
import { planSource } from '../src/pipeline/source-plan.js'
import { createDatabase, startServer, testMajors } from './support/servers.js'

for (const major of testMajors()) {
  describe(`source planning under concurrent DDL (PostgreSQL ${major})`, () => {
    let server: EmbeddedPostgres
    before(async () => {
      server = await startServer(major)
      await createDatabase(server, 'plan', `create table keep (id int primary key, v text); create table gone (id int primary key); create publication inlet_pub for all tables`)
    })
    after(async () => server?.stop())

    test('a table dropped while the publication is read: planned without it', async () => {
      const config = resolveConfig({}, { source: [server.url('plan')] }, {})
      const source = config.sources[0] as (typeof config.sources)[number]
      const dropper = new pg.Client(server.url('plan'))
      const planner = new pg.Client(server.url('plan'))
      // (Watched from a connection outside the drop's transaction: pg_stat_activity is read once per transaction.)
      const watcher = new pg.Client(server.url('plan'))
      await dropper.connect()
      await planner.connect()
      await watcher.connect()
      try {
        const pid = (await planner.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]?.pid
        await dropper.query('begin; drop table gone')
        const planning = planSource(planner, source, 1, { types: DUCKDB_TYPES, nameKey })
        planning.catch(() => undefined)
        // The planner reads the catalogue and waits for the lock of the table being dropped.
        let waited = false
        let settled = false
        void planning.finally(() => (settled = true))
        for (let i = 0; i < 100 && !waited && !settled; i++) {
          const waiting = await watcher.query(`select count(*)::int as n from pg_stat_activity where pid = $1 and wait_event_type = 'Lock'`, [pid])
          waited = waiting.rows[0]?.n === 1
          if (!waited) await new Promise((r) => setTimeout(r, 50))
        }
        await dropper.query('commit')
        const plan = await planning
        assert.ok(waited, 'the read waited on the drop')
        // 15+ opens the table in pg_publication_tables (what failed); 13 and 14 list it from the
        // snapshot the view started with (what the recheck after the reading catches).
        assert.deepEqual(plan.targets.map((t) => t.table.name), ['keep'])
      } finally {
        await dropper.end()
        await planner.end()
        await watcher.end()
      }
    })
  })
}
