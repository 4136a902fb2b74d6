/**
 * The replication stream: reads a logical slot through the walsender's CopyBoth protocol and
 * yields batches of StreamEvents. It owns the socket from START_REPLICATION on (node-postgres did
 * the connecting, authentication and TLS), and:
 *  - answers keepalives that ask for a reply at once, and sends a status update every second;
 *  - reports as flushed only what the consumer confirmed durable (a Commit end LSN), or the
 *    keepalive position when everything delivered is confirmed and nothing is open; never less
 *    than before;
 *  - lets the socket fill before reading when it has caught up (a 1 ms pause), so the walsender
 *    sends in large writes instead of one syscall per message;
 *  - stops reading when the consumer falls behind (backpressure reaches the server).
 *
 *   socket ─▶ BackendFramer ─▶ CopyData ─┬─ keepalive ─▶ status update (immediately if asked)
 *                                        └─ XLogData ─▶ inbox ─▶ next(): EventAssembler ─▶ events
 */
import type { Socket } from 'node:net'
import { InletError } from '../../errors/inlet-error.js'
import { maxLsn, type Lsn } from '../../protocol/lsn.js'
import { BackendFramer, COPY_DONE, copyDataMessage, parseErrorFields, simpleQueryMessage } from '../../protocol/replication/backend-framer.js'
import { decodeServerCopyData, encodeStandbyStatusUpdate } from '../../protocol/replication/copy-data.js'
import type { SqlClient } from '../../postgres/connect.js'
import type { EventAssembler } from './event-assembler.js'
import type { StreamEvent } from './stream-events.js'

export interface StreamTuning {
  /** Events per batch handed to the consumer. Default 4096. */
  readonly batchSize?: number
  /** Message bytes per batch (decoded values live as long as the batch). Default 1 MB. */
  readonly batchBytes?: number
  /** Interval of status updates. Default 1000 ms (the issue floor is 10 s). */
  readonly statusIntervalMs?: number
  /** Pause after a short read so the socket fills. Default 1 ms; 0 reads eagerly. */
  readonly readPauseMs?: number
  /** Received but unprocessed bytes before the socket stops being read. Default 32 MB. */
  readonly maxInboxBytes?: number
  /**
   * Report the keepalive position as flushed when idle (default). A consumer that records its own
   * checkpoint turns this off and calls confirmDrained() once it has recorded the position.
   */
  readonly confirmIdle?: boolean
  /** Sees every pgoutput message as received (copy it to keep it). For tests and fixture capture. */
  readonly onXLogData?: (data: Buffer) => void
}

/** A read shorter than this means the kernel buffer was drained: we have caught up. */
const SHORT_READ = 32 * 1024

export class ReplicationStream implements AsyncIterable<StreamEvent[]> {
  private readonly framer = new BackendFramer()
  private readonly inbox: Array<Buffer | undefined> = []
  private inboxHead = 0
  private inboxBytes = 0
  private flushLsn: Lsn
  private sentLsn: Lsn = -1n
  private waiter: (() => void) | undefined
  private failure: Error | undefined
  private ended = false
  private closing = false
  private backpressured = false
  private pauseTimer: NodeJS.Timeout | undefined
  private statusTimer: NodeJS.Timeout | undefined
  private started: { resolve: () => void; reject: (e: Error) => void } | undefined
  private readonly batchSize: number
  private readonly batchBytes: number
  private readonly readPauseMs: number
  private readonly maxInboxBytes: number
  /**
   * The server's position from the latest keepalive that arrived when every message before it had
   * been handed to the consumer and no transaction was open: the consumer has seen all WAL up to
   * here. `--once` waits for this to pass its target.
   */
  drainedLsn: Lsn = 0n
  /** The server's WAL end from its latest keepalive (for lag in bytes). */
  serverLsn: Lsn = 0n
  /** Counters for benchmarks and status. */
  readonly stats = { xlogMessages: 0, bytes: 0, keepalives: 0, statusUpdates: 0 }

  constructor(
    private readonly client: SqlClient,
    private readonly socket: Socket,
    private readonly assembler: EventAssembler,
    resumeLsn: Lsn,
    private readonly tuning: StreamTuning = {},
  ) {
    this.flushLsn = resumeLsn
    this.batchSize = tuning.batchSize ?? 4096
    this.batchBytes = tuning.batchBytes ?? 1024 * 1024
    this.readPauseMs = tuning.readPauseMs ?? 1
    this.maxInboxBytes = tuning.maxInboxBytes ?? 32 * 1024 * 1024
  }

  /** Sends START_REPLICATION and resolves once the server switched to CopyBoth. */
  start(command: string): Promise<void> {
    // node-postgres is idle (ReadyForQuery): no bytes of a later message sit in its parser, so
    // the socket can change hands here without losing anything.
    this.socket.removeAllListeners('data')
    this.socket.on('data', (chunk: Buffer) => this.onChunk(chunk))
    this.socket.on('close', () => this.onClose())
    this.socket.on('error', (error) => this.fail(new InletError('INLET-N005', `The replication connection failed: ${error.message}.`, { cause: error })))
    return new Promise<void>((resolve, reject) => {
      this.started = { resolve, reject }
      this.socket.write(simpleQueryMessage(command))
    }).then(() => {
      this.statusTimer = setInterval(() => this.sendStatus(this.caughtUp()), this.tuning.statusIntervalMs ?? 1000)
      this.statusTimer.unref()
    })
  }

  /** The position last reported as flushed (or to be reported with the next status update). */
  get confirmedLsn(): Lsn {
    return this.flushLsn
  }

  /** The consumer made everything up to `lsn` (a Commit end LSN it was given) durable. */
  confirm(lsn: Lsn): void {
    if (lsn > this.assembler.deliveredLsn) throw new Error(`cannot confirm ${lsn}: only ${this.assembler.deliveredLsn} was delivered`)
    this.flushLsn = maxLsn(this.flushLsn, lsn)
  }

  /**
   * The consumer recorded `lsn`, a position the stream drained to with nothing open (drainedLsn),
   * as its checkpoint: report it, so that WAL for other tables and databases is not retained. The
   * caller has applied (and confirmed, or queued to confirm first) every transaction delivered;
   * non-transactional messages delivered need no applying.
   */
  confirmDrained(lsn: Lsn): void {
    if (lsn <= this.drainedLsn) this.flushLsn = maxLsn(this.flushLsn, lsn)
  }

  /** Sends a standby status update now. */
  sendStatus(replyRequested = false): void {
    if (this.ended || this.socket.destroyed) return
    this.socket.write(copyDataMessage(encodeStandbyStatusUpdate(this.flushLsn, Date.now(), replyRequested)))
    this.sentLsn = this.flushLsn
    this.stats.statusUpdates++
  }

  /** `for await` over batches; leaving the loop early (break, throw) closes the stream. */
  [Symbol.asyncIterator](): AsyncIterator<StreamEvent[]> {
    return {
      next: () => this.next(),
      return: async () => {
        await this.close()
        return { done: true, value: undefined }
      },
    }
  }

  async next(): Promise<IteratorResult<StreamEvent[]>> {
    for (;;) {
      if (this.failure !== undefined) throw this.failure
      const out: StreamEvent[] = []
      this.fill(out)
      if (out.length > 0) return { value: out, done: false }
      if (this.ended && !this.assembler.replaying && this.inboxHead >= this.inbox.length) return { value: undefined, done: true }
      // Messages were taken that made no events (changes of a streamed transaction, parked in the
      // spool): more is waiting, and the socket may be paused until the inbox drains, so no new
      // data would wake a waiter. Go on (after letting I/O run).
      if (this.inboxHead < this.inbox.length || this.assembler.replaying) {
        await new Promise((resolve) => setImmediate(resolve))
        continue
      }
      await new Promise<void>((resolve) => (this.waiter = resolve))
    }
  }

  /** Ends streaming: last status update, CopyDone, connection closed; spooled changes dropped. */
  async close(): Promise<void> {
    if (this.closing) return
    this.closing = true
    clearInterval(this.statusTimer)
    clearTimeout(this.pauseTimer)
    if (!this.socket.destroyed) {
      if (this.flushLsn !== this.sentLsn) this.sendStatus()
      this.socket.write(COPY_DONE)
    }
    this.ended = true
    this.wake()
    await Promise.race([this.client.end().catch(() => undefined), new Promise((r) => setTimeout(r, 2000))])
    this.socket.destroy()
    this.assembler.close()
  }

  private fill(out: StreamEvent[]): void {
    let bytes = 0
    while (out.length < this.batchSize && bytes < this.batchBytes) {
      if (this.assembler.replaying) {
        bytes += this.assembler.pullReplay(out, this.batchSize - out.length, this.batchBytes - bytes)
        continue
      }
      if (this.inboxHead >= this.inbox.length) break
      const data = this.inbox[this.inboxHead] as Buffer
      this.inbox[this.inboxHead++] = undefined
      this.inboxBytes -= data.length
      bytes += data.length
      this.assembler.push(data, out)
    }
    if (this.inboxHead > 4096 && this.inboxHead * 2 > this.inbox.length) {
      this.inbox.splice(0, this.inboxHead)
      this.inboxHead = 0
    }
    if (this.backpressured && this.inboxBytes < this.maxInboxBytes / 2) {
      this.backpressured = false
      if (this.pauseTimer === undefined) this.socket.resume()
    }
  }

  /** Nothing received is waiting, open or unconfirmed. */
  private caughtUp(): boolean {
    return this.inboxHead >= this.inbox.length && this.assembler.idle && this.assembler.deliveredLsn <= this.flushLsn
  }

  private onChunk(chunk: Buffer): void {
    try {
      this.framer.push(chunk, (type, payload) => this.onMessage(type, payload))
    } catch (error) {
      this.fail(error as Error)
      return
    }
    if (this.inboxBytes > this.maxInboxBytes && !this.backpressured) {
      this.backpressured = true
      this.socket.pause()
    } else if (chunk.length < SHORT_READ && this.readPauseMs > 0 && this.pauseTimer === undefined && !this.backpressured) {
      this.socket.pause()
      this.pauseTimer = setTimeout(() => {
        this.pauseTimer = undefined
        if (!this.backpressured && !this.socket.destroyed) this.socket.resume()
      }, this.readPauseMs)
    }
    this.wake()
  }

  private onMessage(type: number, payload: Buffer): void {
    switch (type) {
      case 0x64 /* d: CopyData */: {
        const message = decodeServerCopyData(payload)
        if (message.tag === 'xlogdata') {
          this.tuning.onXLogData?.(message.data)
          this.inbox.push(message.data)
          this.inboxBytes += message.data.length
          this.stats.xlogMessages++
          this.stats.bytes += payload.length
        } else if (message.tag === 'keepalive') {
          this.stats.keepalives++
          this.serverLsn = maxLsn(this.serverLsn, message.walEnd)
          // Idle: everything before walEnd was delivered and confirmed, or was irrelevant.
          if (this.tuning.confirmIdle !== false && this.caughtUp()) this.flushLsn = maxLsn(this.flushLsn, message.walEnd)
          if (this.inboxHead >= this.inbox.length && this.assembler.idle && !this.assembler.replaying) this.drainedLsn = maxLsn(this.drainedLsn, message.walEnd)
          if (message.replyRequested) this.sendStatus()
        }
        return
      }
      case 0x57 /* W: CopyBothResponse */:
        this.started?.resolve()
        this.started = undefined
        return
      case 0x45 /* E: ErrorResponse */: {
        const fields = parseErrorFields(payload)
        const cause = Object.assign(new Error(fields.M ?? 'unknown error'), { code: fields.C })
        const error =
          fields.C === '55006'
            ? new InletError('INLET-S002', `The replication slot is in use by another process: ${fields.M}.`, { cause, fix: 'Stop the other consumer, or end it with SELECT pg_terminate_backend(PID) if it is a stale Inlet process.' })
            : new InletError('INLET-S005', `The walsender reported an error: ${fields.M}${fields.D === undefined ? '' : ` (${fields.D})`}.`, { cause })
        this.fail(error)
        return
      }
      case 0x63 /* c: CopyDone */:
        this.ended = true
        return
      default:
        // N notice, S parameter status, C command complete, Z ready for query: nothing to do.
        return
    }
  }

  private onClose(): void {
    if (!this.closing && !this.ended) this.fail(new InletError('INLET-N005', 'The replication connection closed unexpectedly (server restart, walsender terminated, or network).'))
    this.ended = true
    this.wake()
  }

  private fail(error: Error): void {
    if (this.started !== undefined) {
      this.started.reject(error)
      this.started = undefined
    } else if (this.failure === undefined && !this.closing) {
      this.failure = error
    }
    clearInterval(this.statusTimer)
    this.wake()
  }

  private wake(): void {
    const waiter = this.waiter
    this.waiter = undefined
    waiter?.()
  }
}
