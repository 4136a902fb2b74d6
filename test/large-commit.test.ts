/**
 * FSST goes off for the whole database while any writer commits a large batch, and comes back
 * only when the last of them ends (the setting is the database's, shared by every writer).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { DuckDBInstance } from '@duckdb/node-api'
import { FsstSwitch, isLargeCommit } from '../src/destination/duckdb/large-commit.js'
import { SqlSession } from '../src/destination/duckdb/sql-session.js'

const MB = 1024 * 1024

async function disabled(sql: SqlSession): Promise<string> {
  const rows = await sql.rows<{ v: string }>(`SELECT current_setting('disabled_compression_methods') AS v`)
  return String(rows[0]?.v ?? '').toLowerCase()
}

describe('large commits without FSST', () => {
  it('counts as large only what passes the engine ceiling (64 MB at least)', () => {
    assert.equal(isLargeCommit(100 * MB, 196 * MB), false, 'a full ordinary batch at the default memory_limit')
    assert.equal(isLargeCommit(250 * MB, 196 * MB), true, 'a spilled 250 MB transaction')
    assert.equal(isLargeCommit(65 * MB, undefined), true)
    assert.equal(isLargeCommit(63 * MB, undefined), false)
  })

  it('stays off while any writer holds it, is reset after the last, also after a failure', async () => {
    const instance = await DuckDBInstance.create(':memory:')
    const a = new SqlSession(await instance.connect())
    const b = new SqlSession(await instance.connect())
    const fsst = new FsstSwitch()
    let releaseA!: () => void
    const aHolds = new Promise<void>((resolve) => (releaseA = resolve))
    const first = fsst.withoutFsst(a, async () => {
      assert.equal(await disabled(b), 'fsst', 'off for the other writer too')
      await aHolds
    })
    await new Promise((r) => setTimeout(r, 20))
    await assert.rejects(
      fsst.withoutFsst(b, async () => {
        throw new Error('the commit failed')
      }),
      /the commit failed/,
    )
    assert.equal(await disabled(b), 'fsst', 'still off: the first large commit goes on')
    releaseA()
    await first
    assert.equal(await disabled(a), '', 'back on after the last')
    a.close()
    b.close()
    instance.closeSync()
  })
})
