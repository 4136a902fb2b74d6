/**
 * The pgoutput decoder: one function per message, dispatched by the tag byte. Pure (no I/O), and
 * never crashes on input: every read is checked, and anything malformed becomes a ProtocolError
 * naming the tag and byte offset.
 *
 * The decoder keeps one bit of state: whether it is inside a streamed block (between Stream Start
 * and Stream Stop), where change messages carry a leading xid.
 */
import { BufferReader } from '../buffer-reader.js'
import { ProtocolError } from '../protocol-error.js'
import {
  decodeBeginPrepare,
  decodeCommitPrepared,
  decodePrepare,
  decodeRollbackPrepared,
  decodeStreamAbort,
  decodeStreamCommit,
  decodeStreamStart,
} from './decode-stream.js'
import type {
  BeginMessage,
  CommitMessage,
  DeleteMessage,
  InsertMessage,
  LogicalMessage,
  OriginMessage,
  PgoutputMessage,
  RelationColumn,
  RelationMessage,
  ReplicaIdentity,
  TruncateMessage,
  TypeMessage,
  UpdateMessage,
} from './messages.js'
import { readTuple } from './tuple.js'

const TAG_NAMES: Record<number, string> = {
  0x42: 'Begin (B)', 0x43: 'Commit (C)', 0x4f: 'Origin (O)', 0x52: 'Relation (R)', 0x59: 'Type (Y)',
  0x49: 'Insert (I)', 0x55: 'Update (U)', 0x44: 'Delete (D)', 0x54: 'Truncate (T)', 0x4d: 'Message (M)',
  0x53: 'Stream Start (S)', 0x45: 'Stream Stop (E)', 0x63: 'Stream Commit (c)', 0x41: 'Stream Abort (A)',
  0x62: 'Begin Prepare (b)', 0x50: 'Prepare (P)', 0x4b: 'Commit Prepared (K)', 0x72: 'Rollback Prepared (r)',
  0x70: 'Stream Prepare (p)',
}

export class PgoutputDecoder {
  private inStreamBlock = false

  /** `inStream`: decode every message as if inside a streamed block (replay of spooled changes). */
  constructor(private readonly inStream = false) {}

  get streaming(): boolean {
    return this.inStreamBlock
  }

  decode(data: Buffer): PgoutputMessage {
    const tag = data[0]
    if (tag === undefined) throw new ProtocolError('pgoutput', 0, 'empty message')
    const name = TAG_NAMES[tag]
    if (name === undefined) throw new ProtocolError('pgoutput', 0, `unknown message tag 0x${tag.toString(16)}`)
    const r = new BufferReader(data, name, 1)
    const message = this.dispatch(tag, r)
    r.expectEnd()
    return message
  }

  private dispatch(tag: number, r: BufferReader): PgoutputMessage {
    switch (tag) {
      case 0x42 /* B */:
        return decodeBegin(r)
      case 0x43 /* C */:
        return decodeCommit(r)
      case 0x4f /* O */:
        return decodeOrigin(r)
      case 0x52 /* R */:
        return decodeRelation(r, this.xid(r))
      case 0x59 /* Y */:
        return decodeType(r, this.xid(r))
      case 0x49 /* I */:
        return decodeInsert(r, this.xid(r))
      case 0x55 /* U */:
        return decodeUpdate(r, this.xid(r))
      case 0x44 /* D */:
        return decodeDelete(r, this.xid(r))
      case 0x54 /* T */:
        return decodeTruncate(r, this.xid(r))
      case 0x4d /* M */:
        return decodeMessage(r, this.xid(r))
      case 0x53 /* S */: {
        if (this.inStreamBlock) r.fail('Stream Start inside a streamed block')
        const message = decodeStreamStart(r)
        this.inStreamBlock = true
        return message
      }
      case 0x45 /* E */:
        if (!this.inStreamBlock) r.fail('Stream Stop outside a streamed block')
        this.inStreamBlock = false
        return { tag: 'stream_stop' }
      case 0x63 /* c */:
        return decodeStreamCommit(r)
      case 0x41 /* A */:
        return decodeStreamAbort(r)
      case 0x62 /* b */:
        return decodeBeginPrepare(r)
      case 0x50 /* P */:
        return decodePrepare(r, 'prepare')
      case 0x70 /* p */:
        return decodePrepare(r, 'stream_prepare')
      case 0x4b /* K */:
        return decodeCommitPrepared(r)
      default /* 0x72 r */:
        return decodeRollbackPrepared(r)
    }
  }

  /** The leading Int32 xid of messages inside a streamed block. */
  private xid(r: BufferReader): number | undefined {
    return this.inStreamBlock || this.inStream ? r.uint32('xid') : undefined
  }
}

/** B: Int64 final LSN, Int64 commit time, Int32 xid. */
function decodeBegin(r: BufferReader): BeginMessage {
  const finalLsn = r.uint64('final lsn')
  const commitTime = r.timestamp('commit time')
  const xid = r.uint32('xid')
  return { tag: 'begin', finalLsn, commitTime, xid }
}

/** C: Int8 flags, Int64 commit LSN, Int64 end LSN, Int64 commit time. */
function decodeCommit(r: BufferReader): CommitMessage {
  const flags = r.uint8('flags')
  const commitLsn = r.uint64('commit lsn')
  const endLsn = r.uint64('end lsn')
  const commitTime = r.timestamp('commit time')
  return { tag: 'commit', flags, commitLsn, endLsn, commitTime }
}

/** O: Int64 origin commit LSN, String origin name. */
function decodeOrigin(r: BufferReader): OriginMessage {
  const originLsn = r.uint64('origin lsn')
  const name = r.cstring('origin name')
  return { tag: 'origin', originLsn, name }
}

const IDENTITIES = new Set(['d', 'n', 'f', 'i'])

/** R: Int32 oid, String namespace, String name, Int8 replica identity, Int16 ncols, columns. */
function decodeRelation(r: BufferReader, xid: number | undefined): RelationMessage {
  const relationId = r.uint32('relation oid')
  const namespace = r.cstring('namespace')
  const name = r.cstring('relation name')
  const identity = String.fromCharCode(r.uint8('replica identity'))
  if (!IDENTITIES.has(identity)) {
    r.offset--
    r.fail(`unknown replica identity "${identity}"`)
  }
  const count = r.int16('column count')
  if (count < 0) r.fail(`negative column count ${count}`)
  const columns: RelationColumn[] = []
  for (let i = 0; i < count; i++) {
    const flags = r.uint8('column flags')
    const columnName = r.cstring('column name')
    const typeOid = r.uint32('type oid')
    const typeModifier = r.int32('type modifier')
    columns.push({ key: (flags & 1) === 1, name: columnName, typeOid, typeModifier })
  }
  return { tag: 'relation', ...(xid === undefined ? {} : { xid }), relationId, namespace, name, replicaIdentity: identity as ReplicaIdentity, columns }
}

/** Y: Int32 type oid, String namespace, String name. */
function decodeType(r: BufferReader, xid: number | undefined): TypeMessage {
  const typeOid = r.uint32('type oid')
  const namespace = r.cstring('namespace')
  const name = r.cstring('type name')
  return { tag: 'type', ...(xid === undefined ? {} : { xid }), typeOid, namespace, name }
}

function expectByte(r: BufferReader, expected: number, what: string): void {
  const got = r.uint8(what)
  if (got !== expected) {
    r.offset--
    r.fail(`expected ${what} '${String.fromCharCode(expected)}', got 0x${got.toString(16)}`)
  }
}

/** I: Int32 oid, 'N', TupleData. */
function decodeInsert(r: BufferReader, xid: number | undefined): InsertMessage {
  const relationId = r.uint32('relation oid')
  expectByte(r, 0x4e, 'new tuple marker')
  return { tag: 'insert', ...(xid === undefined ? {} : { xid }), relationId, newTuple: readTuple(r) }
}

/** U: Int32 oid, optional ('K' | 'O', TupleData), 'N', TupleData. */
function decodeUpdate(r: BufferReader, xid: number | undefined): UpdateMessage {
  const relationId = r.uint32('relation oid')
  const marker = r.uint8('tuple marker')
  let oldKind: 'key' | 'old' | undefined
  let oldTuple
  if (marker === 0x4b /* K */ || marker === 0x4f /* O */) {
    oldKind = marker === 0x4b ? 'key' : 'old'
    oldTuple = readTuple(r)
    expectByte(r, 0x4e, 'new tuple marker')
  } else if (marker !== 0x4e /* N */) {
    r.offset--
    r.fail(`expected tuple marker K, O or N, got 0x${marker.toString(16)}`)
  }
  const newTuple = readTuple(r)
  return { tag: 'update', ...(xid === undefined ? {} : { xid }), relationId, oldKind, oldTuple, newTuple }
}

/** D: Int32 oid, 'K' | 'O', TupleData. */
function decodeDelete(r: BufferReader, xid: number | undefined): DeleteMessage {
  const relationId = r.uint32('relation oid')
  const marker = r.uint8('tuple marker')
  if (marker !== 0x4b && marker !== 0x4f) {
    r.offset--
    r.fail(`expected tuple marker K or O, got 0x${marker.toString(16)}`)
  }
  return { tag: 'delete', ...(xid === undefined ? {} : { xid }), relationId, oldKind: marker === 0x4b ? 'key' : 'old', oldTuple: readTuple(r) }
}

/** T: Int32 relation count, Int8 options (1 cascade, 2 restart identity), Int32 oid × count. */
function decodeTruncate(r: BufferReader, xid: number | undefined): TruncateMessage {
  const count = r.int32('relation count')
  if (count < 0 || count > r.remaining) r.fail(`implausible relation count ${count}`)
  const options = r.uint8('options')
  const relationIds: number[] = []
  for (let i = 0; i < count; i++) relationIds.push(r.uint32('relation oid'))
  return { tag: 'truncate', ...(xid === undefined ? {} : { xid }), cascade: (options & 1) !== 0, restartIdentity: (options & 2) !== 0, relationIds }
}

/** M: Int8 flags (1 = transactional), Int64 LSN, String prefix, Int32 length, bytes. */
function decodeMessage(r: BufferReader, xid: number | undefined): LogicalMessage {
  const flags = r.uint8('flags')
  const lsn = r.uint64('message lsn')
  const prefix = r.cstring('prefix')
  const content = r.bytes(r.int32('content length'), 'content')
  return { tag: 'message', ...(xid === undefined ? {} : { xid }), transactional: (flags & 1) === 1, lsn, prefix, content }
}
