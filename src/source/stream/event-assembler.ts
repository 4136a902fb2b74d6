/**
 * Turns pgoutput messages into StreamEvents: binds changes to relations, skips transactions that
 * were already applied (final LSN below the resume position) while still learning their Relation
 * and Type messages, and parks streamed transactions in the spool until they commit, then replays
 * them as one ordinary transaction at their commit position.
 */
import { ProtocolOrderError } from '../../protocol/protocol-error.js'
import { maxLsn, type Lsn } from '../../protocol/lsn.js'
import { PgoutputDecoder } from '../../protocol/pgoutput/decode.js'
import type { PgoutputMessage } from '../../protocol/pgoutput/messages.js'
import { RelationCache } from './relation-cache.js'
import type { StreamEvent } from './stream-events.js'
import type { TransactionSpool } from './transaction-spool.js'

/** Tags of messages that carry a leading xid inside a streamed block: R Y I U D T M. */
const STREAMABLE = new Set([0x52, 0x59, 0x49, 0x55, 0x44, 0x54, 0x4d])

interface Replay {
  readonly messages: Iterator<Buffer>
  readonly commit: StreamEvent & { kind: 'commit' }
  readonly skip: boolean
}

export class EventAssembler {
  private readonly relations = new RelationCache()
  private readonly decoder = new PgoutputDecoder()
  private readonly replayDecoder = new PgoutputDecoder(true)
  private skipping = false
  private inTransaction = false
  private currentXid = 0
  /**
   * Begin of the open transaction, held back until its first event: PostgreSQL 14 and older send
   * Begin/Commit for every transaction in the database, also those with nothing published.
   */
  private heldBegin: (StreamEvent & { kind: 'begin' }) | undefined
  private streamXid: number | undefined
  private replay: Replay | undefined
  /** Highest position delivered to the consumer: commit end LSNs and non-transactional messages. */
  private delivered: Lsn

  constructor(
    /** End LSN of the last transaction already applied: anything committed before is skipped. */
    private readonly resumeLsn: Lsn,
    private readonly spool: TransactionSpool,
  ) {
    this.delivered = resumeLsn
  }

  /** True while nothing received is unfinished: every delivered position may be acknowledged. */
  get idle(): boolean {
    return !this.inTransaction && this.replay === undefined && this.spool.openTransactions === 0 && this.streamXid === undefined
  }

  /** The stream is over: spooled transactions and their files go. */
  close(): void {
    this.spool.close()
  }

  get deliveredLsn(): Lsn {
    return this.delivered
  }

  get replaying(): boolean {
    return this.replay !== undefined
  }

  /** Handles one pgoutput message (the payload of an XLogData). */
  push(data: Buffer, out: StreamEvent[]): void {
    const tag = data[0] as number
    if (this.decoder.streaming && STREAMABLE.has(tag)) {
      if (this.streamXid === undefined || data.length < 5) throw new ProtocolOrderError('streamed change', 'change inside a streamed block without its xid')
      this.spool.append(this.streamXid, data.readUInt32BE(1), data)
      return
    }
    this.handle(this.decoder.decode(data), out)
  }

  /**
   * Moves events of a replaying streamed transaction into `out`, up to `maxEvents` or `maxBytes`
   * of messages; returns the message bytes consumed. `replaying` turns false after the commit.
   */
  pullReplay(out: StreamEvent[], maxEvents: number, maxBytes = Number.POSITIVE_INFINITY): number {
    const replay = this.replay
    if (replay === undefined) return 0
    const start = out.length
    let bytes = 0
    while (out.length - start < maxEvents && bytes < maxBytes) {
      const next = replay.messages.next()
      if (next.done === true) {
        this.replay = undefined
        if (!replay.skip) {
          out.push(replay.commit)
          this.delivered = maxLsn(this.delivered, replay.commit.endLsn)
        }
        return bytes + 1
      }
      bytes += next.value.length
      this.handleChange(this.replayDecoder.decode(next.value), out, replay.skip)
    }
    return bytes
  }

  private handle(message: PgoutputMessage, out: StreamEvent[]): void {
    switch (message.tag) {
      case 'begin':
        if (this.inTransaction) throw new ProtocolOrderError('Begin (B)', 'Begin inside an open transaction')
        this.inTransaction = true
        this.currentXid = message.xid
        this.skipping = message.finalLsn < this.resumeLsn
        this.heldBegin = this.skipping ? undefined : { kind: 'begin', xid: message.xid, finalLsn: message.finalLsn, commitTime: message.commitTime, streamed: false }
        return
      case 'commit':
        if (!this.inTransaction) throw new ProtocolOrderError('Commit (C)', 'Commit without Begin')
        this.inTransaction = false
        if (this.heldBegin !== undefined) {
          this.heldBegin = undefined // empty transaction: nothing to deliver
        } else if (!this.skipping) {
          out.push({ kind: 'commit', xid: this.currentXid, commitLsn: message.commitLsn, endLsn: message.endLsn, commitTime: message.commitTime })
          this.delivered = maxLsn(this.delivered, message.endLsn)
        }
        this.skipping = false
        return
      case 'origin':
        if (!this.skipping) this.emit(out, { kind: 'origin', name: message.name, originLsn: message.originLsn })
        return
      case 'stream_start':
        this.streamXid = message.xid
        return
      case 'stream_stop':
        this.streamXid = undefined
        return
      case 'stream_commit': {
        const skip = message.commitLsn < this.resumeLsn
        if (!skip) out.push({ kind: 'begin', xid: message.xid, finalLsn: message.commitLsn, commitTime: message.commitTime, streamed: true })
        const commit = { kind: 'commit', xid: message.xid, commitLsn: message.commitLsn, endLsn: message.endLsn, commitTime: message.commitTime } as const
        this.replay = { messages: this.spool.replay(message.xid)[Symbol.iterator](), commit, skip }
        return
      }
      case 'stream_abort':
        this.spool.abort(message.xid, message.subxid)
        return
      case 'message':
        if (!message.transactional) {
          if (message.lsn >= this.resumeLsn) {
            out.push({ kind: 'message', transactional: false, lsn: message.lsn, prefix: message.prefix, content: message.content })
            this.delivered = maxLsn(this.delivered, message.lsn)
          }
          return
        }
        this.handleChange(message, out, this.skipping)
        return
      case 'begin_prepare':
      case 'prepare':
      case 'stream_prepare':
      case 'commit_prepared':
      case 'rollback_prepared':
        throw new ProtocolOrderError(message.tag, 'two-phase messages on a slot Inlet did not create for two-phase decoding')
      default:
        this.handleChange(message, out, this.skipping)
    }
  }

  /** Pushes an event of the open transaction, releasing its held Begin first. */
  private emit(out: StreamEvent[], event: StreamEvent): void {
    if (this.heldBegin !== undefined) {
      out.push(this.heldBegin)
      this.heldBegin = undefined
    }
    out.push(event)
  }

  /** Relation, Type and row messages, inside a transaction (live or replayed). */
  private handleChange(message: PgoutputMessage, out: StreamEvent[], skip: boolean): void {
    switch (message.tag) {
      case 'relation': {
        const relation = this.relations.applyRelation(message)
        if (!skip) this.emit(out, { kind: 'relation', relation })
        return
      }
      case 'type': {
        const type = this.relations.applyType(message)
        if (!skip) this.emit(out, { kind: 'type', type })
        return
      }
      case 'insert':
        if (!skip) this.emit(out, { kind: 'insert', relation: this.relations.relation(message.relationId, 'Insert (I)'), newTuple: message.newTuple })
        return
      case 'update':
        if (!skip) this.emit(out, { kind: 'update', relation: this.relations.relation(message.relationId, 'Update (U)'), oldKind: message.oldKind, oldTuple: message.oldTuple, newTuple: message.newTuple })
        return
      case 'delete':
        if (!skip) this.emit(out, { kind: 'delete', relation: this.relations.relation(message.relationId, 'Delete (D)'), oldKind: message.oldKind, oldTuple: message.oldTuple })
        return
      case 'truncate':
        if (!skip) this.emit(out, { kind: 'truncate', relations: message.relationIds.map((id) => this.relations.relation(id, 'Truncate (T)')), cascade: message.cascade, restartIdentity: message.restartIdentity })
        return
      case 'message':
        if (!skip) this.emit(out, { kind: 'message', transactional: true, lsn: message.lsn, prefix: message.prefix, content: message.content })
        return
      default:
        throw new ProtocolOrderError(message.tag, 'transaction framing message where a change was expected')
    }
  }
}
