/**
 * The pgoutput decoder on hand-built messages: every message kind of protocol versions 1 to 4,
 * every TupleData kind, the streamed-block xid prefix, and typed errors for bad bytes.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { PgoutputDecoder } from '../src/protocol/pgoutput/decode.js'
import { UNCHANGED_TOAST } from '../src/protocol/pgoutput/messages.js'
import { ProtocolError } from '../src/protocol/protocol-error.js'
import { formatLsn, parseLsn } from '../src/protocol/lsn.js'
import { decodeServerCopyData, encodeStandbyStatusUpdate } from '../src/protocol/replication/copy-data.js'
import { pgoutput as m } from './support/pgoutput-builder.js'

const T = 1_764_000_000_123_456 // a commit time, µs since the Unix epoch
const decode = (b: Buffer) => new PgoutputDecoder().decode(b)

describe('LSN', () => {
  it('parses and formats X/Y without leading zeros', () => {
    assert.equal(parseLsn('16/B374D848'), 0x16_b374d848n)
    assert.equal(formatLsn(0x16_b374d848n), '16/B374D848')
    assert.equal(formatLsn(0n), '0/0')
    assert.equal(formatLsn(parseLsn('FFFFFFFF/FFFFFFFF')), 'FFFFFFFF/FFFFFFFF')
    assert.throws(() => parseLsn('16-B3'))
  })
})

describe('replication CopyData framing', () => {
  it('decodes XLogData and keepalive, ignores unknown kinds', () => {
    const x = Buffer.concat([Buffer.from('w'), Buffer.alloc(24), m.begin(10n, T, 7)])
    x.writeBigUInt64BE(5n, 1)
    x.writeBigUInt64BE(5n, 9)
    const xlog = decodeServerCopyData(x)
    assert.equal(xlog.tag, 'xlogdata')
    assert.deepEqual(xlog.tag === 'xlogdata' && decode(xlog.data), { tag: 'begin', finalLsn: 10n, commitTime: T, xid: 7 })
    const k = Buffer.alloc(18)
    k[0] = 0x6b
    k.writeBigUInt64BE(0x1_0000_0000n, 1)
    k[17] = 1
    assert.deepEqual(decodeServerCopyData(k), { tag: 'keepalive', walEnd: 0x1_0000_0000n, replyRequested: true })
    assert.deepEqual(decodeServerCopyData(Buffer.from('s')), { tag: 'unknown', kind: 0x73 })
    assert.throws(() => decodeServerCopyData(k.subarray(0, 10)), ProtocolError)
  })

  it('encodes a standby status update with write = flush = apply', () => {
    const b = encodeStandbyStatusUpdate(0x2_0000_0010n, Date.UTC(2000, 0, 1, 0, 0, 1))
    assert.equal(b.length, 34)
    assert.equal(b[0], 0x72)
    for (const at of [1, 9, 17]) assert.equal(b.readBigUInt64BE(at), 0x2_0000_0010n)
    assert.equal(b.readBigInt64BE(25), 1_000_000n)
    assert.equal(b[33], 0)
  })
})

describe('pgoutput decoder (hand-built bytes)', () => {
  it('Begin, Commit, Origin', () => {
    assert.deepEqual(decode(m.begin(0x1_0000_0100n, T, 4294967295)), { tag: 'begin', finalLsn: 0x1_0000_0100n, commitTime: T, xid: 4294967295 })
    assert.deepEqual(decode(m.commit(0x100n, 0x130n, T)), { tag: 'commit', flags: 0, commitLsn: 0x100n, endLsn: 0x130n, commitTime: T })
    assert.deepEqual(decode(m.origin(0x55n, 'sub_origin')), { tag: 'origin', originLsn: 0x55n, name: 'sub_origin' })
  })

  it('Relation with key flags, type oids and modifiers; Type', () => {
    const r = decode(m.relation(16384, 'public', 'Ördér "x"', 'f', [{ key: true, name: 'id', type: 20, mod: -1 }, { key: false, name: 'amount', type: 1700, mod: ((12 << 16) | 2) + 4 }]))
    assert.deepEqual(r, {
      tag: 'relation', relationId: 16384, namespace: 'public', name: 'Ördér "x"', replicaIdentity: 'f',
      columns: [{ key: true, name: 'id', typeOid: 20, typeModifier: -1 }, { key: false, name: 'amount', typeOid: 1700, typeModifier: 786438 }],
    })
    assert.deepEqual(decode(m.type(16500, 'public', 'mood')), { tag: 'type', typeOid: 16500, namespace: 'public', name: 'mood' })
  })

  it('Insert with every TupleData kind', () => {
    const bin = Buffer.from([0, 1, 2, 255])
    assert.deepEqual(decode(m.insert(1, [{ kind: 't', value: '42' }, { kind: 'n' }, { kind: 'u' }, { kind: 'b', value: bin }, { kind: 't', value: '' }])), {
      tag: 'insert', relationId: 1, newTuple: ['42', null, UNCHANGED_TOAST, bin, ''],
    })
  })

  it('Update without old tuple, with K and with O; Delete with K and O', () => {
    assert.deepEqual(decode(m.update(1, undefined, [{ kind: 't', value: 'a' }])), { tag: 'update', relationId: 1, oldKind: undefined, oldTuple: undefined, newTuple: ['a'] })
    assert.deepEqual(decode(m.update(1, { kind: 'K', cols: [{ kind: 't', value: '1' }, { kind: 'n' }] }, [{ kind: 't', value: '2' }, { kind: 'u' }])), {
      tag: 'update', relationId: 1, oldKind: 'key', oldTuple: ['1', null], newTuple: ['2', UNCHANGED_TOAST],
    })
    assert.equal((decode(m.update(1, { kind: 'O', cols: [{ kind: 't', value: '1' }] }, [{ kind: 't', value: '1' }])) as { oldKind: string }).oldKind, 'old')
    assert.deepEqual(decode(m.delete(9, 'K', [{ kind: 't', value: '5' }])), { tag: 'delete', relationId: 9, oldKind: 'key', oldTuple: ['5'] })
    assert.equal((decode(m.delete(9, 'O', [{ kind: 't', value: '5' }])) as { oldKind: string }).oldKind, 'old')
  })

  it('Truncate flags', () => {
    assert.deepEqual(decode(m.truncate([1, 2], 3)), { tag: 'truncate', cascade: true, restartIdentity: true, relationIds: [1, 2] })
    assert.deepEqual(decode(m.truncate([7], 0)), { tag: 'truncate', cascade: false, restartIdentity: false, relationIds: [7] })
  })

  it('Message, transactional or not', () => {
    assert.deepEqual(decode(m.message(true, 0x99n, 'inlet.wm', Buffer.from('low:1'))), { tag: 'message', transactional: true, lsn: 0x99n, prefix: 'inlet.wm', content: Buffer.from('low:1') })
    assert.equal((decode(m.message(false, 1n, 'p', Buffer.alloc(0))) as { transactional: boolean }).transactional, false)
  })

  it('streamed blocks: the xid prefix appears only between Stream Start and Stream Stop', () => {
    const d = new PgoutputDecoder()
    assert.deepEqual(d.decode(m.streamStart(700, true)), { tag: 'stream_start', xid: 700, firstSegment: true })
    assert.deepEqual(d.decode(m.relation(1, 's', 't', 'd', [], 700)), { tag: 'relation', xid: 700, relationId: 1, namespace: 's', name: 't', replicaIdentity: 'd', columns: [] })
    assert.deepEqual(d.decode(m.type(2, 's', 'e', 700)), { tag: 'type', xid: 700, typeOid: 2, namespace: 's', name: 'e' })
    assert.deepEqual(d.decode(m.insert(1, [{ kind: 't', value: 'x' }], 701)), { tag: 'insert', xid: 701, relationId: 1, newTuple: ['x'] })
    assert.equal((d.decode(m.update(1, undefined, [{ kind: 'n' }], 701)) as { xid: number }).xid, 701)
    assert.equal((d.decode(m.delete(1, 'K', [{ kind: 'n' }], 700)) as { xid: number }).xid, 700)
    assert.equal((d.decode(m.truncate([1], 0, 700)) as { xid: number }).xid, 700)
    assert.equal((d.decode(m.message(true, 3n, 'p', Buffer.from('c'), 700)) as { xid: number }).xid, 700)
    assert.deepEqual(d.decode(m.streamStop()), { tag: 'stream_stop' })
    assert.deepEqual(d.decode(m.insert(1, [{ kind: 'n' }])), { tag: 'insert', relationId: 1, newTuple: [null] })
    assert.deepEqual(d.decode(m.streamCommit(700, 0x200n, 0x230n, T)), { tag: 'stream_commit', xid: 700, flags: 0, commitLsn: 0x200n, endLsn: 0x230n, commitTime: T })
    assert.throws(() => d.decode(m.streamStop()), ProtocolError)
  })

  it('Stream Abort with and without the protocol-4 abort LSN and time', () => {
    assert.deepEqual(decode(m.streamAbort(700, 701)), { tag: 'stream_abort', xid: 700, subxid: 701, abortLsn: undefined, abortTime: undefined })
    assert.deepEqual(decode(m.streamAbort(700, 700, { lsn: 0x300n, time: T })), { tag: 'stream_abort', xid: 700, subxid: 700, abortLsn: 0x300n, abortTime: T })
  })

  it('two-phase messages', () => {
    assert.deepEqual(decode(m.beginPrepare(1n, 2n, T, 5, 'gid-1')), { tag: 'begin_prepare', prepareLsn: 1n, endLsn: 2n, prepareTime: T, xid: 5, gid: 'gid-1' })
    assert.deepEqual(decode(m.prepare('P', 1n, 2n, T, 5, 'g')), { tag: 'prepare', flags: 0, prepareLsn: 1n, endLsn: 2n, prepareTime: T, xid: 5, gid: 'g' })
    assert.deepEqual(decode(m.prepare('p', 1n, 2n, T, 5, 'g')), { tag: 'stream_prepare', flags: 0, prepareLsn: 1n, endLsn: 2n, prepareTime: T, xid: 5, gid: 'g' })
    assert.deepEqual(decode(m.commitPrepared(3n, 4n, T, 5, 'g')), { tag: 'commit_prepared', flags: 0, commitLsn: 3n, endLsn: 4n, commitTime: T, xid: 5, gid: 'g' })
    assert.deepEqual(decode(m.rollbackPrepared(3n, 4n, T, T + 1, 5, 'g')), { tag: 'rollback_prepared', flags: 0, prepareEndLsn: 3n, rollbackEndLsn: 4n, prepareTime: T, rollbackTime: T + 1, xid: 5, gid: 'g' })
  })

  it('bad bytes give a ProtocolError naming the tag and offset', () => {
    const err = (b: Buffer) => {
      try {
        decode(b)
      } catch (e) {
        assert.ok(e instanceof ProtocolError, String(e))
        return e
      }
      assert.fail('no error')
    }
    assert.match(err(Buffer.from('Z')).message, /unknown message tag 0x5a/)
    assert.match(err(Buffer.alloc(0)).message, /empty message/)
    const bad = m.insert(1, [{ kind: 't', value: 'x' }])
    bad[8] = 0x71 // column kind 'q' (I, oid, N, ncols, then the first kind byte)
    const e = err(bad)
    assert.equal(e.tag, 'Insert (I)')
    assert.equal(e.offset, 8)
    assert.equal(e.code, 'INLET-P001')
    assert.match(err(Buffer.concat([m.begin(1n, T, 1), Buffer.from([0])])).message, /1 unexpected trailing bytes/)
  })
})
