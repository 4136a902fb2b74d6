/**
 * pgoutput messages, protocol versions 1 to 4
 * (https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html), as a union
 * discriminated on `tag`. Times are µs since the Unix epoch; LSNs are bigint; xids are uint32.
 */
import type { Lsn } from '../lsn.js'

/** An unchanged TOASTed value ('u'): the server did not resend it. */
export const UNCHANGED_TOAST: unique symbol = Symbol('unchanged-toast')
export type UnchangedToast = typeof UNCHANGED_TOAST

/** A column of TupleData: text form as a string, binary form as bytes, NULL, or unchanged TOAST. */
export type TupleValue = string | Buffer | null | UnchangedToast

export type ReplicaIdentity = 'd' | 'n' | 'f' | 'i'

export interface RelationColumn {
  /** Part of the replica identity (with FULL, every column). */
  readonly key: boolean
  readonly name: string
  readonly typeOid: number
  readonly typeModifier: number
}

export interface BeginMessage {
  readonly tag: 'begin'
  /** LSN of the commit record (= Commit.commitLsn). */
  readonly finalLsn: Lsn
  readonly commitTime: number
  readonly xid: number
}

export interface CommitMessage {
  readonly tag: 'commit'
  readonly flags: number
  readonly commitLsn: Lsn
  /** End of the commit record: the position to acknowledge once the transaction is durable. */
  readonly endLsn: Lsn
  readonly commitTime: number
}

export interface OriginMessage {
  readonly tag: 'origin'
  readonly originLsn: Lsn
  readonly name: string
}

/** Set on messages that arrived inside a streamed block: the (sub)transaction id. */
interface InStream {
  readonly xid?: number
}

export interface RelationMessage extends InStream {
  readonly tag: 'relation'
  readonly relationId: number
  /** '' in the wire form means pg_catalog; kept as sent. */
  readonly namespace: string
  readonly name: string
  readonly replicaIdentity: ReplicaIdentity
  readonly columns: readonly RelationColumn[]
}

export interface TypeMessage extends InStream {
  readonly tag: 'type'
  readonly typeOid: number
  readonly namespace: string
  readonly name: string
}

export interface InsertMessage extends InStream {
  readonly tag: 'insert'
  readonly relationId: number
  readonly newTuple: readonly TupleValue[]
}

export interface UpdateMessage extends InStream {
  readonly tag: 'update'
  readonly relationId: number
  /** 'key' (K: replica identity columns) or 'old' (O: the whole old row, under FULL). */
  readonly oldKind: 'key' | 'old' | undefined
  readonly oldTuple: readonly TupleValue[] | undefined
  readonly newTuple: readonly TupleValue[]
}

export interface DeleteMessage extends InStream {
  readonly tag: 'delete'
  readonly relationId: number
  readonly oldKind: 'key' | 'old'
  readonly oldTuple: readonly TupleValue[]
}

export interface TruncateMessage extends InStream {
  readonly tag: 'truncate'
  readonly cascade: boolean
  readonly restartIdentity: boolean
  readonly relationIds: readonly number[]
}

export interface LogicalMessage extends InStream {
  readonly tag: 'message'
  readonly transactional: boolean
  readonly lsn: Lsn
  readonly prefix: string
  readonly content: Buffer
}

export interface StreamStartMessage {
  readonly tag: 'stream_start'
  readonly xid: number
  readonly firstSegment: boolean
}

export interface StreamStopMessage {
  readonly tag: 'stream_stop'
}

export interface StreamCommitMessage {
  readonly tag: 'stream_commit'
  readonly xid: number
  readonly flags: number
  readonly commitLsn: Lsn
  readonly endLsn: Lsn
  readonly commitTime: number
}

export interface StreamAbortMessage {
  readonly tag: 'stream_abort'
  readonly xid: number
  /** Equal to xid when the whole transaction aborted; else the aborted subtransaction. */
  readonly subxid: number
  /** Protocol 4 with streaming = parallel only. */
  readonly abortLsn: Lsn | undefined
  readonly abortTime: number | undefined
}

export interface BeginPrepareMessage {
  readonly tag: 'begin_prepare'
  readonly prepareLsn: Lsn
  readonly endLsn: Lsn
  readonly prepareTime: number
  readonly xid: number
  readonly gid: string
}

export interface PrepareMessage {
  readonly tag: 'prepare' | 'stream_prepare'
  readonly flags: number
  readonly prepareLsn: Lsn
  readonly endLsn: Lsn
  readonly prepareTime: number
  readonly xid: number
  readonly gid: string
}

export interface CommitPreparedMessage {
  readonly tag: 'commit_prepared'
  readonly flags: number
  readonly commitLsn: Lsn
  readonly endLsn: Lsn
  readonly commitTime: number
  readonly xid: number
  readonly gid: string
}

export interface RollbackPreparedMessage {
  readonly tag: 'rollback_prepared'
  readonly flags: number
  readonly prepareEndLsn: Lsn
  readonly rollbackEndLsn: Lsn
  readonly prepareTime: number
  readonly rollbackTime: number
  readonly xid: number
  readonly gid: string
}

export type PgoutputMessage =
  | BeginMessage
  | CommitMessage
  | OriginMessage
  | RelationMessage
  | TypeMessage
  | InsertMessage
  | UpdateMessage
  | DeleteMessage
  | TruncateMessage
  | LogicalMessage
  | StreamStartMessage
  | StreamStopMessage
  | StreamCommitMessage
  | StreamAbortMessage
  | BeginPrepareMessage
  | PrepareMessage
  | CommitPreparedMessage
  | RollbackPreparedMessage
