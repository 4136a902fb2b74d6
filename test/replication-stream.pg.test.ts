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
      server = await startServer(major, { logical_decoding_work_mem: '64kB', max_replication_slots: 40, max_wal_senders: 40 })
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

    it('unchanged TOAST values: marked under DEFAULT, and under FULL the old row carries them', async () => {
      await q(`create table t_toast (id int primary key, n int, body text); create table t_toast_full (id int primary key, n int, body text); alter table t_toast_full replica identity full`)
      await streamFor('t_toast, t_toast_full')
      // Random hex does not compress: 40 kB is stored out of line.
      await q(`insert into t_toast select 1, 0, string_agg(md5(g::text), '') from generate_series(1, 1250) g; insert into t_toast_full select * from t_toast`)
      await q(`update t_toast set n = 1; update t_toast_full set n = 1`)
      const [insert, update] = await readTransactions(stream, 2)
      const body = (insert?.find((e) => e.kind === 'insert') as unknown as { newTuple: string[] }).newTuple[2] as string
      assert.equal(body.length, 40_000)
      assert.deepEqual(update?.map(summarize), [
        'BEGIN',
        ['U', 't_toast', null, null, ['1', '1', '<unchanged>']],
        ['U', 't_toast_full', 'old', ['1', '0', body], ['1', '1', '<unchanged>']],
        'COMMIT',
      ])
      await stream.close()
    })

    it('TRUNCATE with CASCADE and with RESTART IDENTITY', async () => {
      await q(`create table t_parent (id int primary key); create table t_child (id int primary key, parent int references t_parent); create table t_seq (id serial primary key)`)
      await streamFor('t_parent, t_child, t_seq')
      await q(`insert into t_parent values (1); insert into t_child values (1, 1); insert into t_seq default values`)
      await q(`truncate t_parent cascade`)
      await q(`truncate t_seq restart identity`)
      const [, cascade, restart] = (await events(3)).map((tx) => tx.filter((e) => !(Array.isArray(e) && e[0] === 'RELATION')))
      assert.deepEqual(cascade, ['BEGIN', ['T', ['t_parent', 't_child'], true, false], 'COMMIT'])
      assert.deepEqual(restart, ['BEGIN', ['T', ['t_seq'], false, true], 'COMMIT'])
      await stream.close()
    })

    it('logical decoding messages, transactional and not (PostgreSQL 14+)', { skip: major < 14 }, async () => {
      await q(`create table t_msg (id int primary key)`)
      await streamFor('t_msg')
      await q(`begin; insert into t_msg values (1); select pg_logical_emit_message(true, 'inlet.test', 'in-tx'); commit`)
      await q(`select pg_logical_emit_message(false, 'inlet.heartbeat', 'beat')`)
      assert.deepEqual(await events(2), [
        ['BEGIN', ['RELATION', 'public.t_msg', 'd', ['id:23:key']], ['I', 't_msg', ['1']], ['M', true, 'inlet.test', 'in-tx'], 'COMMIT'],
        [['M', false, 'inlet.heartbeat', 'beat']],
      ])
      await stream.close()
    })

    it('enum and domain columns announce their types first', async () => {
      await q(`create type mood as enum ('sad', 'happy'); create domain positive as int check (value > 0); create table t_types (id int primary key, m mood, p positive)`)
      await streamFor('t_types')
      await q(`insert into t_types values (1, 'happy', 5)`)
      const [tx] = await readTransactions(stream, 1)
      const summary = tx?.map(summarize)
      assert.deepEqual(summary?.filter((e) => Array.isArray(e) && e[0] === 'TYPE'), [['TYPE', 'public.mood'], ['TYPE', 'pg_catalog.int4']])
      assert.deepEqual(summary?.at(-2), ['I', 't_types', ['1', 'happy', '5']])
      await stream.close()
    })

    it('a table altered mid-stream: a new Relation before the next row', async () => {
      await q(`create table t_alter (id int primary key, a text)`)
      await streamFor('t_alter')
      await q(`insert into t_alter values (1, 'x')`)
      await q(`alter table t_alter add column b int default 7`)
      await q(`insert into t_alter values (2, 'y', 8)`)
      await q(`alter table t_alter drop column a`)
      await q(`insert into t_alter values (3, 9)`)
      assert.deepEqual(await events(3), [
        ['BEGIN', ['RELATION', 'public.t_alter', 'd', ['id:23:key', 'a:25']], ['I', 't_alter', ['1', 'x']], 'COMMIT'],
        ['BEGIN', ['RELATION', 'public.t_alter', 'd', ['id:23:key', 'a:25', 'b:23']], ['I', 't_alter', ['2', 'y', '8']], 'COMMIT'],
        ['BEGIN', ['RELATION', 'public.t_alter', 'd', ['id:23:key', 'b:23']], ['I', 't_alter', ['3', '9']], 'COMMIT'],
      ])
      await stream.close()
    })

    it('a large transaction is streamed before commit (14+) and replayed whole at its commit', async () => {
      await q(`create table t_big (id int primary key, pad text)`)
      const s = await streamFor('t_big')
      await q(`insert into t_big select g, repeat('x', 100) from generate_series(1, 5000) g`)
      await q(`insert into t_big values (0, 'small')`)
      const [big, small] = await readTransactions(s, 2, 30_000)
      assert.equal(big?.[0] && summarize(big[0]), major >= 14 ? 'BEGIN (streamed)' : 'BEGIN')
      const ids = big?.filter((e) => e.kind === 'insert').map((e) => (e as unknown as { newTuple: string[] }).newTuple[0])
      assert.deepEqual(ids, Array.from({ length: 5000 }, (_, i) => String(i + 1)))
      assert.deepEqual(small?.map(summarize), ['BEGIN', ['I', 't_big', ['0', 'small']], 'COMMIT'])
      await s.close()
    })

    it('a streamed transaction that aborts delivers nothing, and leaves no spill file', async () => {
      await q(`create table t_abort (id int primary key, pad text)`)
      const dir = (await import('node:fs')).mkdtempSync((await import('node:path')).join((await import('node:os')).tmpdir(), 'inlet-spool-abort-'))
      const name = `s${++slotCount}`
      await q(`create publication p_${name} for table t_abort`)
      await q(`select pg_create_logical_replication_slot('${name}', 'pgoutput')`)
      stream = await openStream(server, 'cdc', { slot: name, publications: [`p_${name}`], spoolDirectory: dir, spoolMemoryBytes: 64 * 1024 })
      await q(`begin; insert into t_abort select g, repeat('y', 200) from generate_series(1, 5000) g; select pg_sleep(0.5); rollback`)
      await q(`insert into t_abort values (-1, 'after')`)
      assert.deepEqual(await events(1), [['BEGIN', ['RELATION', 'public.t_abort', 'd', ['id:23:key', 'pad:25']], ['I', 't_abort', ['-1', 'after']], 'COMMIT']])
      assert.deepEqual(readdirSync(dir), [])
      await stream.close()
    })

    it('a rolled-back savepoint drops only that subtransaction, streamed or not', async () => {
      await q(`create table t_sub (id int primary key, pad text)`)
      await streamFor('t_sub')
      const script = (n: number) => `begin;
        insert into t_sub select g, repeat('z', 100) from generate_series(1, ${n}) g;
        savepoint s1; insert into t_sub select g, 'gone' from generate_series(${n} + 1, ${2 * n}) g; rollback to savepoint s1;
        savepoint s2; insert into t_sub values (${10 * n}, 'kept'); release savepoint s2;
        commit`
      await q(script(3000))
      await q(`delete from t_sub`)
      await q(script(3))
      const [bigTx, , smallTx] = await readTransactions(stream, 3, 30_000)
      const idsOf = (tx: typeof bigTx) => tx?.filter((e) => e.kind === 'insert').map((e) => Number((e as unknown as { newTuple: string[] }).newTuple[0]))
      assert.deepEqual(idsOf(bigTx), [...Array.from({ length: 3000 }, (_, i) => i + 1), 30000])
      assert.deepEqual(idsOf(smallTx), [1, 2, 3, 30])
      await stream.close()
    })

    it('a transaction from a replication origin carries an Origin message', async () => {
      await q(`create table t_origin (id int primary key)`)
      await streamFor('t_origin')
      await q(`select pg_replication_origin_create('upstream')`)
      await q(`select pg_replication_origin_session_setup('upstream'); begin; select pg_replication_origin_xact_setup('0/AB', now()); insert into t_origin values (1); commit; select pg_replication_origin_session_reset();`)
      const [tx] = await readTransactions(stream, 1)
      assert.deepEqual(tx?.map(summarize).slice(0, 2), ['BEGIN', ['ORIGIN', 'upstream']])
      assert.equal((tx?.[1] as { originLsn: bigint }).originLsn, 0xabn)
      await stream.close()
    })
  })
}
