/**
 * The destination contract, checked on every registered destination by one loop (a new
 * destination is an entry in targets.ts): replaying a committed batch changes nothing, and a batch
 * that fails at its checkpoint, after its rows, leaves neither; a batch committed whose
 * confirmation to the slot was lost (an error, a SIGKILL) is skipped by the next run. The workload has the shapes that
 * make a replay visible: keyless duplicates (a second insert doubles them), SCD2 versions (a
 * second close or open shows in the history), updates of keyed rows. Faults come through the
 * contract (test/support/faulty-destination.ts), never through hooks in product code.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { resolveConfig } from '../../src/config/load.js'
import { openDestination } from '../../src/destination/registry.js'
import { toSafeUrl } from '../../src/postgres/connection-settings.js'
import type { EmbeddedPostgres } from '../../src/embedded/postgres-server.js'
import { runPipeline } from '../../src/pipeline/run-pipeline.js'
import { faultyDestination } from '../support/faulty-destination.js'
import { createDatabase, runAndKill, sql, startServer, testMajors } from '../support/servers.js'
import { TARGETS } from './targets.js'

const SCHEMA = `create table keyed (id int primary key, v text, n int);
  create table dup (v text, n int); alter table dup replica identity full;
  insert into keyed select g, md5(g::text), g from generate_series(1, 50) g;
  insert into dup select 'same', 1 from generate_series(1, 3);
  create publication inlet_pub for all tables`

const WORKLOAD = [
  `insert into dup values ('same', 1), ('same', 1), ('other', 2); update keyed set v = 'u1' where id % 5 = 0`,
  `delete from dup where ctid = (select ctid from dup where v = 'same' limit 1); update dup set n = 3 where v = 'other'; delete from keyed where id % 7 = 0`,
  `begin; insert into keyed values (1000, 'new', 0); update keyed set id = 2000 where id = 1; insert into dup values ('same', 1); commit`,
]

for (const target of TARGETS) {
  for (const major of testMajors()) {
    describe(`destination contract: ${target.name} (PostgreSQL ${major})`, () => {
      let server: EmbeddedPostgres
      let dir: string
      let n = 0
      before(async () => {
        server = await startServer(major)
        dir = mkdtempSync(join(tmpdir(), 'inlet-conformance-'))
      })
      after(async () => {
        await server?.stop()
        rmSync(dir, { recursive: true, force: true })
      })
      const setup = async (scd: 1 | 2) => {
        const db = `c${++n}`
        await createDatabase(server, db, SCHEMA)
        const url = target.url(dir, db)
        const config = resolveConfig({ scd }, { source: [server.url(db)], destination: url }, {})
        const tables = ['keyed', 'dup'].map((t) => ({ sourceUrl: server.url(db), sourceTable: `public.${t}`, destTable: `public.${t}`, scd, ...(t === 'keyed' ? { key: ['id'] } : {}) }))
        return { db, url, config, tables }
      }

      for (const scd of [1, 2] as const) {
        test(`SCD${scd}: every committed batch handed over twice changes nothing`, async () => {
          const { db, url, config, tables } = await setup(scd)
          const wrapDestination = (d: Parameters<typeof faultyDestination>[0]) => faultyDestination(d, { replayCommits: true })
          await runPipeline({ config, once: true, wrapDestination })
          for (const step of WORKLOAD) {
            await sql(server, db, step)
            await runPipeline({ config, once: true, wrapDestination })
          }
          await target.assertEqual(url, tables)
        })

        test(`SCD${scd}: a restart resumes from the checkpoint: batches committed but never confirmed land once`, async () => {
          const { db, url, config, tables } = await setup(scd)
          await runPipeline({ config, once: true })
          await sql(server, db, WORKLOAD[0] as string)
          const [at] = await sql<{ lsn: string }>(server, db, `select (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::text as lsn`)
          await assert.rejects(runPipeline({ config, once: true, wrapDestination: (d) => faultyDestination(d, { failAfterCommit: 1 }) }), /confirmation lost/)
          await target.assertEqual(url, tables) // committed,
          const [slot] = await sql<{ lsn: string }>(server, db, `select (confirmed_flush_lsn - '0/0'::pg_lsn)::text as lsn from pg_replication_slots where slot_name = $1`, [config.sources[0]?.slot])
          assert.ok(BigInt(slot?.lsn ?? '0') < BigInt(at?.lsn ?? '0'), 'and not confirmed: the slot hands it over again')
          // The same through the CLI killed right after each commit, before it confirms.
          for (const step of WORKLOAD.slice(1)) {
            await sql(server, db, step)
            const started = Date.now()
            const killed = await runAndKill(['run', '--source', server.url(db), '--destination', url, '--scd', String(scd), '--once', '--json'], 60_000, { INLET_TEST_FAULTS: JSON.stringify({ killAfterCommit: 1 }) })
            assert.equal(killed.signal, 'SIGKILL', killed.stderr.slice(-2000))
            assert.ok(Date.now() - started < 45_000, 'killed by the fault after its commit, not by the timeout')
          }
          await runPipeline({ config, once: true })
          await target.assertEqual(url, tables)
        })

        test(`SCD${scd}: a batch failing at its checkpoint, after its rows, leaves neither`, async () => {
          const { db, url, config, tables } = await setup(scd)
          await runPipeline({ config, once: true })
          // What the destination says of itself, through the contract: checkpoint and current rows per table.
          const observe = async () => {
            const d = await openDestination(url, { readOnly: true })
            try {
              const rows = await Promise.all((await d.readTables(db)).map(async (t) => `${t.sourceTable}=${await d.currentRows(t)}`))
              return { checkpoint: (await d.readSource(db))?.checkpointLsn, rows: rows.sort() }
            } finally {
              await d.close()
            }
          }
          const before = await observe()
          // The destination lists the source with where it is, the password left out (inlet status of the destination alone).
          const listed = await openDestination(url, { readOnly: true })
          try {
            assert.deepEqual((await listed.listSources()).map((s) => [s.source, s.slot, s.connection]), [[db, config.sources[0]?.slot, toSafeUrl(config.sources[0]!.connection)]])
            assert.ok(!JSON.stringify(await listed.listSources(), (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)).includes(server.password))
          } finally {
            await listed.close()
          }
          await sql(server, db, WORKLOAD[0] as string)
          // Just past the batch's commit: a checkpoint holding the batch would be at or after it.
          const [at] = await sql<{ lsn: string }>(server, db, `select (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::text as lsn`)
          await assert.rejects(runPipeline({ config, once: true, wrapDestination: (d) => faultyDestination(d, { badCheckpoint: 1 }) }))
          const after = await observe()
          // (An idle checkpoint may move it up to the batch's commit, never past it.)
          assert.ok((after.checkpoint ?? 0n) < BigInt(at?.lsn ?? '0'), `the checkpoint (${after.checkpoint}) does not hold the failed batch (which ends by ${at?.lsn})`)
          assert.deepEqual(after.rows, before.rows, 'no row of the failed batch')
          await assert.rejects(target.assertEqual(url, tables), 'the destination is where it was, behind the source')
          for (const step of WORKLOAD.slice(1)) await sql(server, db, step)
          await runPipeline({ config, once: true })
          await target.assertEqual(url, tables)
        })
      }
    })
  }
}
