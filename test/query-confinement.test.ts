/**
 * The query path reads only the destination's tables: whatever the statement, `inlet query` on
 * the file and the run's own reader (which shares the writing DuckDB) reach no other file, change
 * no setting, load nothing and write nothing. A real DuckDB destination, no PostgreSQL needed.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DuckDBInstance } from '@duckdb/node-api'
import type { QueryReader } from '../src/destination/destination.js'
import { DuckDbDestination } from '../src/destination/duckdb/duckdb-destination.js'
import { InletError } from '../src/errors/inlet-error.js'
import { runCli } from './support/servers.js'

describe('query confinement', () => {
  let dir: string
  let path: string
  let secret: string
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'inlet-confine-'))
    path = join(dir, 'lake.duckdb')
    secret = join(dir, 'secret.csv')
    writeFileSync(secret, 'password\nhunter2\n')
    const setup = await DuckDBInstance.create(path)
    const c = await setup.connect()
    await c.run(`CREATE TABLE orders AS SELECT range AS id, 'o' || range AS note FROM range(10)`)
    c.closeSync()
    setup.closeSync()
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  const attacks = (out: string) => [
    `SELECT * FROM read_csv('${secret}')`,
    `SELECT * FROM read_text('/etc/passwd')`,
    `SELECT * FROM '${secret}'`,
    `SELECT * FROM glob('/etc/*')`,
    `EXPLAIN ANALYZE COPY (SELECT 1) TO '${out}'`,
    `EXPLAIN COPY (SELECT 1) TO '${out}'`,
    `COPY orders TO '${out}'`,
    `SET GLOBAL enable_external_access = true`,
    `SET memory_limit = '1TB'`,
    `LOAD httpfs`,
    `INSTALL httpfs`,
    `PRAGMA enable_profiling`,
    `ATTACH '${join(dir, 'other.duckdb')}' AS other`,
    `CALL checkpoint()`,
    `SELECT * FROM checkpoint()`,
    `DELETE FROM orders`,
    `SELECT 1; DELETE FROM orders`,
    // The scratch root is readable by the writer: not by a query, even through a replacement scan.
    `SELECT * FROM '${join(dir, '.lake.duckdb.inlet', 'stage-test', 'x.csv')}'`,
    `SELECT * FROM read_csv('${join(dir, '.lake.duckdb.inlet', 'stage-test', 'x.csv')}')`,
  ]

  async function assertConfined(reader: QueryReader, label: string): Promise<void> {
    const out = join(dir, `${label}-out.csv`)
    mkdirSync(join(dir, '.lake.duckdb.inlet', 'stage-test'), { recursive: true })
    writeFileSync(join(dir, '.lake.duckdb.inlet', 'stage-test', 'x.csv'), 'hunter2\n')
    for (const sql of attacks(out)) {
      const result = await reader.query(sql, 100).then(
        (r) => r,
        (error: unknown) => error,
      )
      assert.ok(result instanceof InletError, `${label}: ${sql} was not refused: ${result instanceof Error ? result.message : JSON.stringify(result)}`)
      assert.equal(result.code, 'INLET-D005', `${label}: ${sql}: ${String(result)}`)
      assert.doesNotMatch(result.message, /hunter2|root:/, `${label}: ${sql} leaked the file`)
    }
    assert.ok(!existsSync(out), `${label}: a file was written`)
    // What it is for still works.
    assert.deepEqual((await reader.query('SELECT count(*) AS n FROM orders', 10)).rows, [{ n: '10' }])
    assert.equal((await reader.query('EXPLAIN ANALYZE SELECT * FROM orders', 10)).rows.length > 0, true)
    assert.equal((await reader.query('DESCRIBE orders', 10)).rows.length, 2)
    assert.equal((await reader.query('SUMMARIZE orders', 10)).rows.length, 2)
    assert.equal((await reader.query(`PRAGMA table_info('orders')`, 10)).rows.length, 2)
    assert.ok((await reader.query('SHOW TABLES', 10)).rows.length >= 1)
  }

  test('inlet query on the file (read-only open)', async () => {
    const destination = await DuckDbDestination.open(path, { readOnly: true })
    const reader = await destination.openReader()
    try {
      await assertConfined(reader, 'file')
    } finally {
      await reader.close()
      await destination.close()
    }
    const cli = await runCli(['query', '--destination', `duckdb:${path}`, `SELECT * FROM read_csv('${secret}')`])
    assert.equal(cli.code, 1)
    assert.doesNotMatch(cli.stdout + cli.stderr, /hunter2/)
    assert.match(cli.stderr, /INLET-D005/)
  })

  test("the run's reader, beside the writer, while the writer stages and commits", async () => {
    const destination = await DuckDbDestination.open(path, { memoryBytes: 64 * 1024 * 1024 })
    const reader = await destination.openReader()
    try {
      await assertConfined(reader, 'run')
      // The writer itself still reads its scratch files and checkpoints.
      const scratch = join(dir, '.lake.duckdb.inlet', 'stage-test')
      mkdirSync(scratch, { recursive: true })
      writeFileSync(join(scratch, 'x.csv'), 'a\n1\n')
      assert.equal(await destination.hasState(), true)
    } finally {
      await reader.close()
      await destination.close()
    }
  })
})
