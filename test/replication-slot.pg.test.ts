/**
 * Slot creation through the walsender on real servers: exported snapshots that other sessions
 * import, no-snapshot and temporary slots, failover slots on 17+, and pinned value settings.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import pg from 'pg'
import type { EmbeddedPostgres } from '../src/embedded/postgres-server.js'
import { parseConnectionString } from '../src/postgres/connection-settings.js'
import { ReplicationConnection } from '../src/source/stream/replication-connection.js'
import { createDatabase, sql, startServer, testMajors } from './support/servers.js'
import { readTransactions } from './support/stream.js'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

for (const major of testMajors()) {
  describe(`replication slots on PostgreSQL ${major}`, () => {
    let server: EmbeddedPostgres
    const open = () => ReplicationConnection.open(parseConnectionString(server.url('slots'), {}))
    before(async () => {
      server = await startServer(major, { TimeZone: 'America/New_York', DateStyle: 'SQL, DMY', IntervalStyle: 'sql_standard', extra_float_digits: 0, bytea_output: 'escape' })
      await createDatabase(server, 'slots', `create table t (id int primary key, at timestamptz, d date, i interval, f float8, b bytea); create publication pub for table t; insert into t values (0, '2026-01-02 03:04:05+00', '2026-01-02', '1 day 02:03:04', 0.1, '\\x00ff')`)
    })
    after(async () => server?.stop())

    it('IDENTIFY_SYSTEM names the database and a position', async () => {
      const connection = await open()
      const identity = await connection.identifySystem()
      assert.equal(identity.database, 'slots')
      assert.ok(identity.xlogPos > 0n)
      assert.match(identity.systemId, /^\d+$/)
      await connection.close()
    })

    it('an exported snapshot is importable while the connection waits, and lines up with the stream', async () => {
      const connection = await open()
      const slot = await connection.createSlot('exported', { snapshot: 'export' })
      assert.ok(slot.snapshotName !== null && slot.consistentPoint > 0n)
      await sql(server, 'slots', `insert into t values (1, now(), now(), '1 hour', 1, '\\x01')`)
      const reader = new pg.Client(server.url('slots'))
      await reader.connect()
      await reader.query('begin isolation level repeatable read read only')
      await reader.query(`set transaction snapshot '${slot.snapshotName}'`)
      const { rows } = await reader.query<{ id: number }>('select id from t order by id')
      await reader.query('commit')
      await reader.end()
      assert.deepEqual(rows.map((r) => r.id), [0], 'the snapshot does not see the later insert')
      const stream = await connection.startStreaming({ slot: 'exported', publications: ['pub'], resumeLsn: slot.consistentPoint, spoolDirectory: mkdtempSync(join(tmpdir(), 'inlet-sp-')) })
      const [tx] = await readTransactions(stream, 1)
      const inserted = tx?.filter((e) => e.kind === 'insert').map((e) => (e as unknown as { newTuple: string[] }).newTuple[0])
      assert.deepEqual(inserted, ['1'], 'the stream holds exactly what the snapshot lacks')
      await stream.close()
    })

    it('values arrive in the pinned text forms whatever the server defaults', async () => {
      const connection = await open()
      await connection.createSlot('pinned', { snapshot: 'nothing' })
      const stream = await connection.startStreaming({ slot: 'pinned', publications: ['pub'], resumeLsn: 0n, spoolDirectory: mkdtempSync(join(tmpdir(), 'inlet-sp-')) })
      await sql(server, 'slots', `insert into t values (2, '2026-01-02 03:04:05.5+02', '2026-01-02', '1 day 02:03:04', 0.1, '\\x00ff')`)
      const [tx] = await readTransactions(stream, 1)
      const row = (tx?.find((e) => e.kind === 'insert') as unknown as { newTuple: string[] }).newTuple
      assert.deepEqual(row, ['2', '2026-01-02 01:04:05.5+00', '2026-01-02', '1 day 02:03:04', '0.1', '\\x00ff'])
      await stream.close()
    })

    it('temporary slots vanish with their connection', async () => {
      const connection = await open()
      await connection.createSlot('temp_slot', { snapshot: 'nothing', temporary: true })
      assert.equal((await sql(server, 'slots', `select 1 from pg_replication_slots where slot_name = 'temp_slot'`)).length, 1)
      await connection.close()
      for (let i = 0; i < 50 && (await sql(server, 'slots', `select 1 from pg_replication_slots where slot_name = 'temp_slot'`)).length > 0; i++) await new Promise((r) => setTimeout(r, 50))
      assert.equal((await sql(server, 'slots', `select 1 from pg_replication_slots where slot_name = 'temp_slot'`)).length, 0)
    })

    it('failover slots on 17+', { skip: major < 17 }, async () => {
      const connection = await open()
      await connection.createSlot('failover_slot', { snapshot: 'nothing', failover: true })
      await connection.close()
      const [row] = await sql<{ failover: boolean }>(server, 'slots', `select failover from pg_replication_slots where slot_name = 'failover_slot'`)
      assert.equal(row?.failover, true)
    })

    it('a walsender error (unknown publication, slot in use) becomes a coded error', async () => {
      const connection = await open()
      await connection.createSlot('busy', { snapshot: 'nothing' })
      const first = await connection.startStreaming({ slot: 'busy', publications: ['pub'], resumeLsn: 0n })
      const second = await open()
      await assert.rejects(second.startStreaming({ slot: 'busy', publications: ['pub'], resumeLsn: 0n }), (e: unknown) => (e as { code?: string }).code === 'INLET-S002')
      await first.close()
      const third = await open()
      await assert.rejects(third.startStreaming({ slot: 'missing_slot', publications: ['pub'], resumeLsn: 0n }), (e: unknown) => (e as { code?: string }).code === 'INLET-S005')
    })
  })
}
