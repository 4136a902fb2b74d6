/**
 * Garbage in, ProtocolError out: the decoder never throws anything else, never hangs, and never
 * accepts a truncated message (except where the format itself has an optional tail).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { PgoutputDecoder } from '../src/protocol/pgoutput/decode.js'
import { ProtocolError } from '../src/protocol/protocol-error.js'
import { decodeServerCopyData } from '../src/protocol/replication/copy-data.js'
import { pgoutput as m } from './support/pgoutput-builder.js'
import { random } from './fuzz/generate.js'

const T = 1_764_000_000_000_000

/** A small deterministic PRNG so failures reproduce (the differential fuzzer's). */
const prng = random

const VALID: Array<[string, Buffer, boolean]> = [
  ['begin', m.begin(1n, T, 1), false],
  ['commit', m.commit(1n, 2n, T), false],
  ['origin', m.origin(1n, 'o'), false],
  ['relation', m.relation(1, 'public', 'orders', 'd', [{ key: true, name: 'id', type: 23, mod: -1 }, { key: false, name: 'note', type: 25, mod: -1 }]), false],
  ['type', m.type(1, 'public', 'mood'), false],
  ['insert', m.insert(1, [{ kind: 't', value: 'abc' }, { kind: 'n' }, { kind: 'b', value: Buffer.from([1, 2]) }]), false],
  ['update', m.update(1, { kind: 'O', cols: [{ kind: 't', value: 'a' }] }, [{ kind: 'u' }]), false],
  ['delete', m.delete(1, 'K', [{ kind: 't', value: '1' }]), false],
  ['truncate', m.truncate([1, 2, 3], 1), false],
  ['message', m.message(true, 5n, 'prefix', Buffer.from('payload')), false],
  ['stream start', m.streamStart(9, true), false],
  ['stream commit', m.streamCommit(9, 1n, 2n, T), false],
  // The abort LSN and time are an optional tail: cutting exactly all 16 bytes leaves a valid v2 abort.
  ['stream abort', m.streamAbort(9, 10, { lsn: 1n, time: T }), true],
  ['begin prepare', m.beginPrepare(1n, 2n, T, 3, 'g'), false],
  ['prepare', m.prepare('P', 1n, 2n, T, 3, 'g'), false],
  ['commit prepared', m.commitPrepared(1n, 2n, T, 3, 'g'), false],
  ['rollback prepared', m.rollbackPrepared(1n, 2n, T, T, 3, 'g'), false],
]

function decodeOrProtocolError(data: Buffer): 'ok' | 'error' {
  try {
    new PgoutputDecoder().decode(data)
    return 'ok'
  } catch (e) {
    if (e instanceof ProtocolError) return 'error'
    throw new Error(`non-protocol error for ${data.toString('hex')}: ${String(e)}`)
  }
}

describe('pgoutput decoder fuzz', () => {
  it('rejects every truncation of every valid message with a ProtocolError', () => {
    for (const [name, message, optionalTail] of VALID) {
      assert.equal(decodeOrProtocolError(message), 'ok', name)
      for (let cut = 0; cut < message.length; cut++) {
        const result = decodeOrProtocolError(message.subarray(0, cut))
        if (!(optionalTail && cut === message.length - 16)) assert.equal(result, 'error', `${name} cut at ${cut}`)
      }
    }
  })

  it('survives 100,000 random and mutated buffers', () => {
    const random = prng(20261124)
    const tags = [...'BCORYIUDTMSEcAbPKrp'].map((c) => c.charCodeAt(0))
    for (let i = 0; i < 100_000; i++) {
      let data: Buffer
      if (i % 2 === 0) {
        data = Buffer.alloc(Math.floor(random() * 64))
        for (let j = 0; j < data.length; j++) data[j] = Math.floor(random() * 256)
        if (data.length > 0 && random() < 0.8) data[0] = tags[Math.floor(random() * tags.length)] as number
      } else {
        const [, base] = VALID[Math.floor(random() * VALID.length)] as [string, Buffer, boolean]
        data = Buffer.from(base)
        const flips = 1 + Math.floor(random() * 3)
        for (let f = 0; f < flips; f++) data[Math.floor(random() * data.length)] = Math.floor(random() * 256)
      }
      decodeOrProtocolError(data)
      try {
        decodeServerCopyData(data)
      } catch (e) {
        assert.ok(e instanceof ProtocolError)
      }
    }
  })

  it('rejects huge declared lengths without allocating them', () => {
    const lie = m.insert(1, [{ kind: 't', value: 'x' }])
    lie.writeInt32BE(0x7fffffff, 1 + 4 + 1 + 2 + 1)
    assert.equal(decodeOrProtocolError(lie), 'error')
    const count = m.truncate([1], 0)
    count.writeInt32BE(0x7fffffff, 1)
    assert.equal(decodeOrProtocolError(count), 'error')
  })
})
