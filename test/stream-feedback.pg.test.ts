/**
 * The feedback loop under a short wal_sender_timeout: a consumer that stops pulling while data
 * keeps coming (backpressure pauses the socket) stays connected because status updates keep going
 * out, then receives everything; the flush position reported never moves backwards.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { EmbeddedPostgres } from '../src/embedded/postgres-server.js'
import { parseLsn } from '../src/protocol/lsn.js'
import { createDatabase, sql, startServer, testMajors } from './support/servers.js'
import { openStream, readTransactions } from './support/stream.js'

for (const major of testMajors()) {
  describe(`stream feedback on PostgreSQL ${major}`, () => {
    let server: EmbeddedPostgres
    before(async () => {
      server = await startServer(major, { wal_sender_timeout: '1s' })
      await createDatabase(server, 'fb', `create table t (id int primary key, pad text); create publication pub for table t`)
      await sql(server, 'fb', `select pg_create_logical_replication_slot('fb', 'pgoutput')`)
    })
    after(async () => server?.stop())

    it('survives a stalled consumer past wal_sender_timeout, loses nothing, never acks backwards', async () => {
      const stream = await openStream(server, 'fb', { slot: 'fb', publications: ['pub'], maxInboxBytes: 64 * 1024 })
      for (let i = 0; i < 50; i++) await sql(server, 'fb', `insert into t select g, repeat('p', 200) from generate_series(${i * 200 + 1}, ${(i + 1) * 200}) g`)
      const confirmedSeen: bigint[] = []
      const watcher = setInterval(async () => {
        const rows = await sql<{ c: string | null }>(server, 'fb', `select confirmed_flush_lsn::text as c from pg_replication_slots where slot_name = 'fb'`).catch(() => [])
        const c = rows[0]?.c
        if (c !== undefined && c !== null) confirmedSeen.push(parseLsn(c))
      }, 100)
      // Stall for four timeouts without pulling a single batch.
      await new Promise((r) => setTimeout(r, 4000))
      const [{ active }] = (await sql(server, 'fb', `select active from pg_replication_slots where slot_name = 'fb'`)) as [{ active: boolean }]
      assert.equal(active, true, 'the walsender did not time the consumer out')
      let rows = 0
      const transactions = await readTransactions(stream, 50, 30_000)
      for (const tx of transactions) {
        rows += tx.filter((e) => e.kind === 'insert').length
        const commit = tx.at(-1)
        if (commit?.kind === 'commit') stream.confirm(commit.endLsn)
      }
      assert.equal(rows, 10_000)
      await new Promise((r) => setTimeout(r, 1500))
      clearInterval(watcher)
      await stream.close()
      assert.ok(stream.stats.statusUpdates >= 4, `${stream.stats.statusUpdates} status updates`)
      for (let i = 1; i < confirmedSeen.length; i++) assert.ok((confirmedSeen[i] as bigint) >= (confirmedSeen[i - 1] as bigint), 'confirmed_flush_lsn never moves backwards')
      assert.equal(confirmedSeen.at(-1), stream.confirmedLsn)
    })
  })
}
