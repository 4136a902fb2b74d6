import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { TransactionSpool } from '../src/source/stream/transaction-spool.js'

const dir = () => mkdtempSync(join(tmpdir(), 'inlet-spool-unit-'))
const msg = (n: number, size = 10) => Buffer.concat([Buffer.from(`m${n}:`), Buffer.alloc(size, n % 251)])

describe('transaction spool', () => {
  it('removes spill files a crashed run left behind', () => {
    const d = dir()
    writeFileSync(join(d, '123.spill'), 'stale')
    writeFileSync(join(d, 'keep.txt'), 'not ours')
    new TransactionSpool(d, 1024)
    assert.deepEqual(readdirSync(d), ['keep.txt'])
  })

  it('replays in arrival order across disk and memory, interleaved transactions apart', () => {
    const d = dir()
    const spool = new TransactionSpool(d, 64 * 1024)
    const sizes = [3, 5000, 70000, 12, 300000, 1, 40000]
    for (let i = 0; i < 400; i++) {
      spool.append(1, 1, msg(i, sizes[i % sizes.length]))
      spool.append(2, 2, msg(10000 + i, 7))
    }
    assert.ok(spool.spilledBytes > 0 && readdirSync(d).length >= 1, 'spilled to disk')
    // Each message is valid until the next is asked for (the read buffer is reused): read it at once.
    const one = Array.from(spool.replay(1), (b) => b.toString('latin1', 0, b.indexOf(0x3a)))
    assert.deepEqual(one, Array.from({ length: 400 }, (_, i) => `m${i}`))
    const two = Array.from(spool.replay(2), (b, i) => b.equals(msg(10000 + i, 7)))
    assert.equal(two.length, 400)
    assert.ok(two.every((same) => same))
    assert.equal(spool.openTransactions, 0)
    assert.deepEqual(readdirSync(d), [], 'files removed after replay')
  })

  it('drops an aborted subtransaction only, and a whole aborted transaction with its file', () => {
    const d = dir()
    const spool = new TransactionSpool(d, 4096)
    for (let i = 0; i < 100; i++) spool.append(7, i % 3 === 0 ? 8 : 7, msg(i, 100))
    spool.abort(7, 8)
    assert.deepEqual([...spool.replay(7)].length, 100 - 34)
    for (let i = 0; i < 100; i++) spool.append(9, 9, msg(i, 100))
    assert.ok(readdirSync(d).length > 0)
    spool.abort(9, 9)
    assert.equal(spool.openTransactions, 0)
    assert.deepEqual(readdirSync(d), [])
  })

  it('clear() forgets every open transaction (reconnect)', () => {
    const d = dir()
    const spool = new TransactionSpool(d, 1024)
    for (let i = 0; i < 50; i++) spool.append(i % 5, i % 5, msg(i, 200))
    spool.clear()
    assert.equal(spool.openTransactions, 0)
    assert.equal(spool.bufferedBytes, 0)
    assert.deepEqual(readdirSync(d), [])
  })
})
