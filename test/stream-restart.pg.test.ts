/**
 * Exactly-once across restarts of the consumer, and an idle database whose slot still advances.
 * The consumer's durable position is the end LSN of the last transaction it applied; the stream
 * resumes there and skips what was already applied, learning Relation messages on the way.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { EmbeddedPostgres } from '../src/embedded/postgres-server.js'
import { parseLsn } from '../src/protocol/lsn.js'
import { createDatabase, sql, startServer, testMajors } from './support/servers.js'
import { lastCommitEnd, openStream, readTransactions, summarize } from './support/stream.js'

for (const major of testMajors()) {
  describe(`stream restarts on PostgreSQL ${major}`, () => {
    let server: EmbeddedPostgres
    const q = (text: string) => sql(server, 'app', text)
    before(async () => {
      server = await startServer(major, { logical_decoding_work_mem: '64kB' })
      await createDatabase(server, 'app', `create table items (id int primary key, v text); create publication pub for table items`)
      await createDatabase(server, 'idle', `create table quiet (id int primary key); create publication pub for table quiet`)
      await createDatabase(server, 'busy', `create table noisy (id serial primary key, v text)`)
    })
    after(async () => server?.stop())

    it('killed mid-transaction: the transaction arrives again whole, once', async () => {
      await q(`select pg_create_logical_replication_slot('mid', 'pgoutput')`)
      await q(`insert into items values (1, 'first')`)
      let stream = await openStream(server, 'app', { slot: 'mid', publications: ['pub'], batchSize: 100 })
      const [first] = await readTransactions(stream, 1)
      const applied = lastCommitEnd([first ?? []])
      stream.confirm(applied)
      stream.sendStatus()
      await q(`insert into items select g, 'bulk' from generate_series(2, 3001) g`)
      // Read one batch of the big transaction, then die without its commit.
      const partial = await stream.next()
      assert.ok(partial.done !== true && !partial.value.some((e) => e.kind === 'commit'))
      await stream.close()

      stream = await openStream(server, 'app', { slot: 'mid', publications: ['pub'], resumeLsn: applied })
      const [again] = await readTransactions(stream, 1, 30_000)
      const ids = again?.filter((e) => e.kind === 'insert').map((e) => Number((e as unknown as { newTuple: string[] }).newTuple[0]))
      assert.deepEqual(ids, Array.from({ length: 3000 }, (_, i) => i + 2))
      await stream.close()
    })

    it('killed after its commit was durable but before the ack: skipped, never applied twice', async () => {
      await q(`select pg_create_logical_replication_slot('acked', 'pgoutput')`)
      await q(`insert into items values (10001, 'a')`)
      await q(`insert into items values (10002, 'b')`)
      let stream = await openStream(server, 'app', { slot: 'acked', publications: ['pub'] })
      const firstTwo = await readTransactions(stream, 2)
      const durable = lastCommitEnd(firstTwo) // "written to the destination", but never confirmed to the slot
      await stream.close()
      const [{ confirmed }] = (await q(`select confirmed_flush_lsn::text as confirmed from pg_replication_slots where slot_name = 'acked'`)) as [{ confirmed: string }]
      assert.ok(parseLsn(confirmed) < durable, 'the server still thinks both transactions are unacknowledged')

      await q(`insert into items values (10003, 'c')`)
      // Start from the slot's own position: the server resends both, Inlet skips them, and the
      // Relation message the server sent inside the first still resolves the third's change.
      stream = await openStream(server, 'app', { slot: 'acked', publications: ['pub'], resumeLsn: durable, startLsn: 0n })
      assert.deepEqual((await readTransactions(stream, 1))[0]?.map(summarize), ['BEGIN', ['I', 'items', ['10003', 'c']], 'COMMIT'])
      await stream.close()

      // Normal resume: START_REPLICATION at the durable position, and the server skips them itself.
      stream = await openStream(server, 'app', { slot: 'acked', publications: ['pub'], resumeLsn: durable })
      const [next] = await readTransactions(stream, 1)
      assert.deepEqual(next?.map(summarize), ['BEGIN', ['RELATION', 'public.items', 'd', ['id:23:key', 'v:25']], ['I', 'items', ['10003', 'c']], 'COMMIT'])
      stream.confirm(lastCommitEnd([next ?? []]))
      stream.sendStatus()
      await new Promise((r) => setTimeout(r, 300))
      const [{ after: confirmedAfter }] = (await q(`select confirmed_flush_lsn::text as after from pg_replication_slots where slot_name = 'acked'`)) as [{ after: string }]
      assert.equal(parseLsn(confirmedAfter), lastCommitEnd([next ?? []]))
      await stream.close()
    })

    it('leaving a for-await loop closes the stream and frees the slot', async () => {
      await q(`select pg_create_logical_replication_slot('loop', 'pgoutput')`)
      await q(`insert into items values (20001, 'x')`)
      const stream = await openStream(server, 'app', { slot: 'loop', publications: ['pub'] })
      for await (const batch of stream) if (batch.some((e) => e.kind === 'commit')) break
      let active = true
      for (let i = 0; i < 50 && active; i++) {
        active = ((await q(`select active from pg_replication_slots where slot_name = 'loop'`)) as [{ active: boolean }])[0].active
        if (active) await new Promise((r) => setTimeout(r, 50))
      }
      assert.equal(active, false)
    })

    it('an idle database sees confirmed_flush_lsn advance while another database writes WAL', async () => {
      await sql(server, 'idle', `select pg_create_logical_replication_slot('idle_slot', 'pgoutput')`)
      const position = async () => parseLsn(((await sql(server, 'idle', `select confirmed_flush_lsn::text as c from pg_replication_slots where slot_name = 'idle_slot'`)) as [{ c: string }])[0].c)
      const start = await position()
      const stream = await openStream(server, 'idle', { slot: 'idle_slot', publications: ['pub'] })
      let advanced = false
      for (let i = 0; i < 40 && !advanced; i++) {
        await sql(server, 'busy', `insert into noisy (v) select repeat('w', 100) from generate_series(1, 200)`)
        await new Promise((r) => setTimeout(r, 250))
        advanced = (await position()) > start
      }
      assert.ok(advanced, 'confirmed_flush_lsn of the idle slot moved forward')
      assert.ok(stream.stats.statusUpdates > 0)
      await stream.close()
    })
  })
}
