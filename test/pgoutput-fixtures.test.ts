/**
 * The decoder and assembler on real bytes captured from PostgreSQL 18 (scripts/capture-fixtures.ts),
 * and the CopyBoth framer fed those bytes whole, split at every offset, and one byte at a time.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { PgoutputDecoder } from '../src/protocol/pgoutput/decode.js'
import { UNCHANGED_TOAST } from '../src/protocol/pgoutput/messages.js'
import { BackendFramer } from '../src/protocol/replication/backend-framer.js'
import { EventAssembler } from '../src/source/stream/event-assembler.js'
import type { StreamEvent } from '../src/source/stream/stream-events.js'
import { TransactionSpool } from '../src/source/stream/transaction-spool.js'
import { PROJECT_ROOT } from './support/servers.js'
import { summarize } from './support/stream.js'

const dir = join(PROJECT_ROOT, 'test', 'fixtures', 'pgoutput')
const fixture = (name: string): Buffer[] => (JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8')) as { messages: string[] }).messages.map((h) => Buffer.from(h, 'hex'))
const tags = (name: string) => {
  const decoder = new PgoutputDecoder()
  return fixture(name).map((m) => decoder.decode(m).tag)
}
function assemble(name: string, spoolMemory = 1 << 20): StreamEvent[] {
  const spool = new TransactionSpool(mkdtempSync(join(tmpdir(), 'inlet-fx-')), spoolMemory)
  const assembler = new EventAssembler(0n, spool)
  const out: StreamEvent[] = []
  for (const message of fixture(name)) {
    assembler.push(message, out)
    while (assembler.pullReplay(out, 100));
  }
  assert.equal(spool.openTransactions, 0)
  return out
}

describe('real captured pgoutput bytes', () => {
  it('every fixture decodes', () => {
    for (const file of readdirSync(dir)) {
      const decoder = new PgoutputDecoder()
      for (const message of fixture(file.replace(/\.json$/, ''))) decoder.decode(message)
    }
  })

  it('insert, update, primary-key update, delete under DEFAULT', () => {
    assert.deepEqual(tags('insert-update-delete-default'), ['begin', 'relation', 'insert', 'commit', 'begin', 'update', 'commit', 'begin', 'update', 'commit', 'begin', 'delete', 'commit'])
    assert.deepEqual(assemble('insert-update-delete-default').filter((e) => e.kind !== 'relation').map(summarize), [
      'BEGIN', ['I', 't', ['1', 'a']], 'COMMIT',
      'BEGIN', ['U', 't', null, null, ['1', 'b']], 'COMMIT',
      'BEGIN', ['U', 't', 'key', ['1', null], ['2', 'b']], 'COMMIT',
      'BEGIN', ['D', 't', 'key', ['2', null]], 'COMMIT',
    ])
  })

  it('FULL sends the old row; unchanged TOAST is marked', () => {
    assert.deepEqual(assemble('update-delete-replica-identity-full').filter((e) => e.kind === 'update' || e.kind === 'delete').map(summarize), [
      ['U', 't', 'old', ['1', 'a'], ['1', 'b']],
      ['D', 't', 'old', ['1', 'b']],
    ])
    const update = assemble('unchanged-toast').find((e) => e.kind === 'update')
    assert.deepEqual(update?.kind === 'update' && update.newTuple, ['1', '1', UNCHANGED_TOAST])
  })

  it('truncate flags, logical messages, types, origin', () => {
    assert.deepEqual(assemble('truncate-cascade-restart-identity').filter((e) => e.kind === 'truncate').map(summarize), [['T', ['t', 'c'], true, true]])
    assert.deepEqual(assemble('logical-messages').filter((e) => e.kind === 'message').map(summarize), [['M', true, 'inlet.test', 'in-tx'], ['M', false, 'inlet.beat', 'x']])
    assert.deepEqual(assemble('enum-and-domain-types').filter((e) => e.kind === 'type').map(summarize), [['TYPE', 'public.mood'], ['TYPE', 'pg_catalog.int4']])
    assert.deepEqual(tags('replication-origin').slice(0, 2), ['begin', 'origin'])
  })

  it('a streamed transaction with an aborted savepoint, replayed from memory and from disk', () => {
    const t = tags('streamed-commit-with-aborted-savepoint')
    assert.equal(t[0], 'stream_start')
    assert.ok(t.includes('stream_stop') && t.includes('stream_abort'))
    assert.equal(t.at(-1), 'stream_commit')
    for (const memory of [1 << 30, 64 * 1024]) {
      const events = assemble('streamed-commit-with-aborted-savepoint', memory)
      const ids = events.filter((e) => e.kind === 'insert').map((e) => Number((e as unknown as { newTuple: string[] }).newTuple[0]))
      assert.deepEqual(ids, [...Array.from({ length: 600 }, (_, i) => i + 1), 0])
      assert.deepEqual([events[0]?.kind, events.at(-1)?.kind], ['begin', 'commit'])
    }
  })

  it('the CopyBoth framer yields the same messages however the bytes are split', () => {
    const payloads = fixture('insert-update-delete-default').concat(fixture('unchanged-toast'))
    const frame = (p: Buffer) => {
      const header = Buffer.alloc(5 + 25)
      header[0] = 0x64
      header.writeUInt32BE(4 + 25 + p.length, 1)
      header[5] = 0x77
      return Buffer.concat([header, p])
    }
    const wire = Buffer.concat(payloads.map(frame))
    const collect = (chunks: Buffer[]) => {
      const framer = new BackendFramer()
      const out: string[] = []
      for (const c of chunks) framer.push(c, (type, payload) => out.push(`${type}:${payload.subarray(25).toString('hex')}`))
      assert.equal(framer.buffered, 0)
      return out
    }
    const expected = payloads.map((p) => `100:${p.toString('hex')}`)
    assert.deepEqual(collect([wire]), expected)
    for (let at = 1; at < wire.length; at++) assert.deepEqual(collect([wire.subarray(0, at), wire.subarray(at)]), expected, `split at ${at}`)
    assert.deepEqual(collect(Array.from({ length: wire.length }, (_, i) => wire.subarray(i, i + 1))), expected)
  })
})
