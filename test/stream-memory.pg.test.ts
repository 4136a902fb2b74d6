/**
 * A committed 1 GB transaction, streamed by the server before its commit (PostgreSQL 14+), is
 * consumed with peak RSS under 256 MB: what does not fit the spool's memory goes to disk, and the
 * spill files are gone afterwards.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { EmbeddedPostgres } from '../src/embedded/postgres-server.js'
import { createDatabase, PROJECT_ROOT, sql, startServer, testMajors } from './support/servers.js'

function consume(url: string, slot: string, count: number, tuning: Record<string, number> = {}): Promise<{ changes: number; streamed: boolean; maxRssMB: number; maxSpillBytes: number; leftover: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(PROJECT_ROOT, 'dist', 'test', 'support', 'consume-transactions.js'), url, slot, 'pub', String(count)], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, INLET_TEST_TUNING: JSON.stringify(tuning) } })
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d))
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`consumer exited ${code}`))))
  })
}

const majors = testMajors().filter((m) => m >= 14)
for (const major of majors) {
  describe(`memory on PostgreSQL ${major}`, () => {
    let server: EmbeddedPostgres
    before(async () => {
      server = await startServer(major, { max_wal_size: '4GB', checkpoint_timeout: '30min', logical_decoding_work_mem: '64kB' })
      await createDatabase(server, 'big', 'create table big (id int, payload text); alter table big set (autovacuum_enabled = false); create publication pub for table big')
      await sql(server, 'big', `select pg_create_logical_replication_slot('big_slot', 'pgoutput')`)
    })
    after(async () => server?.stop())

    it('a committed 1 GB transaction streams through with peak RSS under 256 MB', { timeout: 600_000 }, async () => {
      const consumer = consume(server.url('big'), 'big_slot', 1)
      // 1,000,000 rows of 1,000 random-ish characters: about 1 GB of tuple data in one transaction.
      await sql(server, 'big', `insert into big select g, repeat(md5(g::text), 31) || lpad(g::text, 8, '0') from generate_series(1, 1000000) g`)
      const result = await consumer
      assert.equal(result.changes, 1_000_000)
      assert.equal(result.streamed, true, 'the server streamed it before commit')
      assert.ok(result.maxSpillBytes > 256 * 1024 * 1024, `spilled to disk (${result.maxSpillBytes} bytes)`)
      assert.equal(result.leftover, 0, 'no spill file left')
      assert.ok(result.maxRssMB < 256, `peak RSS ${result.maxRssMB} MB`)
    })

    it('streamed transactions already in the WAL when streaming starts fill the inbox without stalling it', { timeout: 120_000 }, async () => {
      // The server sends the whole transaction at once: the inbox fills with streamed changes
      // (which make no events, they go to the spool) until the socket is paused. Reading must go
      // on until the inbox drains, or nothing would ever resume the socket.
      await sql(server, 'big', `create table late (id int, payload text); alter publication pub add table late`)
      await sql(server, 'big', `select pg_create_logical_replication_slot('late_slot', 'pgoutput')`)
      // While the first one replays from the spool, the second one's changes fill the inbox.
      await sql(server, 'big', `insert into late select g, repeat(md5(g::text), 8) from generate_series(1, 100000) g`)
      await sql(server, 'big', `insert into late select g, repeat(md5(g::text), 8) from generate_series(1, 100000) g`)
      const result = await consume(server.url('big'), 'late_slot', 2, { maxInboxBytes: 4 * 1024 * 1024, batchBytes: 256 * 1024 })
      assert.equal(result.changes, 200_000)
      assert.equal(result.streamed, true, 'the server streamed it before commit')
    })
  })
}
