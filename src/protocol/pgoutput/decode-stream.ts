/**
 * Messages of streamed in-progress transactions (protocol 2+) and two-phase commit (protocol 3+),
 * kept apart from the version-1 messages.
 */
import type { BufferReader } from '../buffer-reader.js'
import type {
  BeginPrepareMessage,
  CommitPreparedMessage,
  PrepareMessage,
  RollbackPreparedMessage,
  StreamAbortMessage,
  StreamCommitMessage,
  StreamStartMessage,
} from './messages.js'

/** S: Int32 xid, Int8 first segment. */
export function decodeStreamStart(r: BufferReader): StreamStartMessage {
  const xid = r.uint32('xid')
  const firstSegment = r.uint8('first segment') === 1
  return { tag: 'stream_start', xid, firstSegment }
}

/** c: Int32 xid, Int8 flags, Int64 commit LSN, Int64 end LSN, Int64 commit time. */
export function decodeStreamCommit(r: BufferReader): StreamCommitMessage {
  const xid = r.uint32('xid')
  const flags = r.uint8('flags')
  const commitLsn = r.uint64('commit lsn')
  const endLsn = r.uint64('end lsn')
  const commitTime = r.timestamp('commit time')
  return { tag: 'stream_commit', xid, flags, commitLsn, endLsn, commitTime }
}

/** A: Int32 xid, Int32 subxid, then (protocol 4, streaming = parallel) Int64 abort LSN, Int64 abort time. */
export function decodeStreamAbort(r: BufferReader): StreamAbortMessage {
  const xid = r.uint32('xid')
  const subxid = r.uint32('subxid')
  // The server writes the abort position only with parallel streaming; tell by the length.
  if (r.remaining >= 16) {
    const abortLsn = r.uint64('abort lsn')
    const abortTime = r.timestamp('abort time')
    return { tag: 'stream_abort', xid, subxid, abortLsn, abortTime }
  }
  return { tag: 'stream_abort', xid, subxid, abortLsn: undefined, abortTime: undefined }
}

/** b: Int64 prepare LSN, Int64 end LSN, Int64 prepare time, Int32 xid, String gid. */
export function decodeBeginPrepare(r: BufferReader): BeginPrepareMessage {
  const prepareLsn = r.uint64('prepare lsn')
  const endLsn = r.uint64('end lsn')
  const prepareTime = r.timestamp('prepare time')
  const xid = r.uint32('xid')
  const gid = r.cstring('gid')
  return { tag: 'begin_prepare', prepareLsn, endLsn, prepareTime, xid, gid }
}

/** P and p: Int8 flags, Int64 prepare LSN, Int64 end LSN, Int64 prepare time, Int32 xid, String gid. */
export function decodePrepare(r: BufferReader, tag: 'prepare' | 'stream_prepare'): PrepareMessage {
  const flags = r.uint8('flags')
  const prepareLsn = r.uint64('prepare lsn')
  const endLsn = r.uint64('end lsn')
  const prepareTime = r.timestamp('prepare time')
  const xid = r.uint32('xid')
  const gid = r.cstring('gid')
  return { tag, flags, prepareLsn, endLsn, prepareTime, xid, gid }
}

/** K: Int8 flags, Int64 commit LSN, Int64 end LSN, Int64 commit time, Int32 xid, String gid. */
export function decodeCommitPrepared(r: BufferReader): CommitPreparedMessage {
  const flags = r.uint8('flags')
  const commitLsn = r.uint64('commit lsn')
  const endLsn = r.uint64('end lsn')
  const commitTime = r.timestamp('commit time')
  const xid = r.uint32('xid')
  const gid = r.cstring('gid')
  return { tag: 'commit_prepared', flags, commitLsn, endLsn, commitTime, xid, gid }
}

/** r: Int8 flags, Int64 prepare end LSN, Int64 rollback end LSN, Int64 prepare time, Int64 rollback time, Int32 xid, String gid. */
export function decodeRollbackPrepared(r: BufferReader): RollbackPreparedMessage {
  const flags = r.uint8('flags')
  const prepareEndLsn = r.uint64('prepare end lsn')
  const rollbackEndLsn = r.uint64('rollback end lsn')
  const prepareTime = r.timestamp('prepare time')
  const rollbackTime = r.timestamp('rollback time')
  const xid = r.uint32('xid')
  const gid = r.cstring('gid')
  return { tag: 'rollback_prepared', flags, prepareEndLsn, rollbackEndLsn, prepareTime, rollbackTime, xid, gid }
}
