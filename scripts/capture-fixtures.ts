/**
 * Records real pgoutput bytes for the decoder's unit tests: runs each scenario against an embedded
 * PostgreSQL and writes test/fixtures/pgoutput/<scenario>.json (hex of every XLogData payload).
 * Usage: npm run build && node dist/scripts/capture-fixtures.js
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { EmbeddedPostgres } from '../src/embedded/postgres-server.js'
import { parseConnectionString } from '../src/postgres/connection-settings.js'
import { ReplicationConnection } from '../src/source/stream/replication-connection.js'
import { PROJECT_ROOT } from './project-root.js'

const SCENARIOS: Record<string, { setup: string; run: string[]; transactions: number }> = {
  'insert-update-delete-default': {
    setup: 'create table t (id int primary key, note text)',
    run: [`insert into t values (1, 'a')`, `update t set note = 'b'`, `update t set id = 2`, `delete from t`],
    transactions: 4,
  },
  'update-delete-replica-identity-full': {
    setup: 'create table t (id int, note text); alter table t replica identity full',
    run: [`insert into t values (1, 'a')`, `update t set note = 'b'`, `delete from t`],
    transactions: 3,
  },
  'unchanged-toast': {
    setup: 'create table t (id int primary key, n int, body text)',
    run: [`insert into t select 1, 0, string_agg(md5(g::text), '') from generate_series(1, 300) g`, 'update t set n = 1'],
    transactions: 2,
  },
  'truncate-cascade-restart-identity': {
    setup: 'create table t (id serial primary key); create table c (id int primary key, t int references t)',
    run: ['insert into t default values', 'truncate t restart identity cascade'],
    transactions: 2,
  },
  'logical-messages': {
    setup: 'create table t (id int primary key)',
    run: [`begin; insert into t values (1); select pg_logical_emit_message(true, 'inlet.test', 'in-tx'); commit`, `select pg_logical_emit_message(false, 'inlet.beat', 'x')`],
    transactions: 2,
  },
  'enum-and-domain-types': {
    setup: `create type mood as enum ('sad', 'happy'); create domain positive as int check (value > 0); create table t (id int primary key, m mood, p positive)`,
    run: [`insert into t values (1, 'happy', 3)`],
    transactions: 1,
  },
  'streamed-commit-with-aborted-savepoint': {
    setup: 'create table t (id int primary key, pad text)',
    run: [`begin; insert into t select g, repeat('x', 200) from generate_series(1, 600) g; savepoint s; insert into t select g, 'gone' from generate_series(601, 1200) g; rollback to savepoint s; insert into t values (0, 'kept'); commit`],
    transactions: 1,
  },
  'replication-origin': {
    setup: `create table t (id int primary key); select pg_replication_origin_create('upstream')`,
    run: [`select pg_replication_origin_session_setup('upstream'); begin; select pg_replication_origin_xact_setup('0/AB', now()); insert into t values (1); commit; select pg_replication_origin_session_reset()`],
    transactions: 1,
  },
}

const server = await EmbeddedPostgres.start({ settings: { wal_level: 'logical', logical_decoding_work_mem: '64kB', max_replication_slots: 20 } })
try {
  for (const [name, scenario] of Object.entries(SCENARIOS)) {
    const db = name.replace(/-/g, '_')
    const admin = new pg.Client(server.url('postgres'))
    await admin.connect()
    await admin.query(`create database ${db}`)
    await admin.end()
    const client = new pg.Client(server.url(db))
    client.on('error', () => undefined)
    await client.connect()
    await client.query(scenario.setup)
    await client.query('create publication pub for all tables')
    await client.query(`select pg_create_logical_replication_slot('capture_${db}', 'pgoutput')`)
    const messages: string[] = []
    const connection = await ReplicationConnection.open(parseConnectionString(server.url(db), {}))
    const stream = await connection.startStreaming({ slot: `capture_${db}`, publications: ['pub'], resumeLsn: 0n, spoolDirectory: mkdtempSync(join(tmpdir(), 'inlet-capture-')), onXLogData: (data) => messages.push(data.toString('hex')) })
    for (const statement of scenario.run) await client.query(statement)
    let done = 0
    while (done < scenario.transactions) {
      const batch = await stream.next()
      if (batch.done === true) break
      done += batch.value.filter((e) => e.kind === 'commit' || (e.kind === 'message' && !e.transactional)).length
    }
    await stream.close()
    await client.end()
    writeFileSync(join(PROJECT_ROOT, 'test', 'fixtures', 'pgoutput', `${name}.json`), `${JSON.stringify({ server: `PostgreSQL ${server.major}`, protocol: 4, messages }, null, 1)}\n`)
    console.log(`${name}: ${messages.length} messages`)
  }
} finally {
  await server.stop()
}
