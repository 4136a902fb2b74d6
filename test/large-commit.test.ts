/**
 * String compression goes off for the whole database while any writer commits a large batch, and comes back
 * only when the last of them ends (the setting is the database's, shared by every writer).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { DuckDBInstance } from '@duckdb/node-api'
import { STRING_COMPRESSION, StringCompressionSwitch, isLargeCommit } from '../src/destination/duckdb/large-commit.js'
import { SqlSession } from '../src/destination/duckdb/sql-session.js'

const MB = 1024 * 1024
/** A list of methods in a stable order (DuckDB reports them in its own). */
const methods = (list: string) => list.toLowerCase().split(',').filter((m) => m !== '').sort().join(',')
const OFF = methods(STRING_COMPRESSION)

async function disabled(sql: SqlSession): Promise<string> {
  const rows = await sql.rows<{ v: string }>(`SELECT current_setting('disabled_compression_methods') AS v`)
  return methods(String(rows[0]?.v ?? ''))
}

describe('large commits without string compression', () => {
  it('counts as large what passes twice the pool share (64 MB at least)', () => {
    // The default memory_limit's shares: pool 29 MB, batch 17 MB.
    assert.equal(isLargeCommit(40 * MB, 29 * MB), false, 'a full ordinary batch at the default memory_limit')
    assert.equal(isLargeCommit(150 * MB, 29 * MB), true, 'a transaction staged in parts')
    // memory_limit 4GB: pool 981 MB, batch 588 MB; a batch of whole transactions keeps string compression.
    assert.equal(isLargeCommit(1200 * MB, 981 * MB), false)
    assert.equal(isLargeCommit(2000 * MB, 981 * MB), true)
    assert.equal(isLargeCommit(65 * MB, undefined), true)
    assert.equal(isLargeCommit(63 * MB, undefined), false)
  })

  it('stays off while any writer holds it, is reset after the last, also after a failure', async () => {
    const instance = await DuckDBInstance.create(':memory:')
    const a = new SqlSession(await instance.connect())
    const b = new SqlSession(await instance.connect())
    const strings = new StringCompressionSwitch()
    let releaseA!: () => void
    const aHolds = new Promise<void>((resolve) => (releaseA = resolve))
    const first = strings.withoutStringCompression(a, async () => {
      assert.equal(await disabled(b), OFF, 'off for the other writer too')
      await aHolds
    })
    await new Promise((r) => setTimeout(r, 20))
    await assert.rejects(
      strings.withoutStringCompression(b, async () => {
        throw new Error('the commit failed')
      }),
      /the commit failed/,
    )
    assert.equal(await disabled(b), OFF, 'still off: the first large commit goes on')
    releaseA()
    await first
    assert.equal(await disabled(a), '', 'back on after the last')
    a.close()
    b.close()
    instance.closeSync()
  })
})
