/**
 * The payloads of CopyData messages on a replication connection
 * (https://www.postgresql.org/docs/current/protocol-replication.html): XLogData and primary
 * keepalive from the server, standby status update from the client.
 */
import { BufferReader } from '../buffer-reader.js'
import type { Lsn } from '../lsn.js'

export type ServerCopyData =
  | {
      readonly tag: 'xlogdata'
      /**
       * The pgoutput message: a view into the received buffer. The header's dataStart and walEnd
       * are not read: they are 0 for intermediate writes (Relation, Type, Begin before Origin) and
       * never a position to rely on; positions come from the messages themselves.
       */
      readonly data: Buffer
    }
  | { readonly tag: 'keepalive'; readonly walEnd: Lsn; readonly replyRequested: boolean }
  /** Message kinds a newer server may send (PG19 'Primary status update'): ignored, never fatal. */
  | { readonly tag: 'unknown'; readonly kind: number }

const XLOGDATA_HEADER = 1 + 8 + 8 + 8

export function decodeServerCopyData(buffer: Buffer): ServerCopyData {
  const kind = buffer[0]
  if (kind === 0x77 /* w */) {
    if (buffer.length < XLOGDATA_HEADER) new BufferReader(buffer, 'XLogData', 1).fail(`header needs ${XLOGDATA_HEADER} bytes, got ${buffer.length}`)
    return { tag: 'xlogdata', data: buffer.subarray(XLOGDATA_HEADER) }
  }
  if (kind === 0x6b /* k */) {
    const reader = new BufferReader(buffer, 'keepalive', 1)
    const walEnd = reader.uint64('walEnd')
    reader.uint64('sendTime')
    const replyRequested = reader.uint8('replyRequested') === 1
    return { tag: 'keepalive', walEnd, replyRequested }
  }
  return { tag: 'unknown', kind: kind ?? -1 }
}

/** Microseconds between the Unix and PostgreSQL epochs, as a bigint. */
const PG_EPOCH_US = 946_684_800_000_000n

/**
 * Standby status update ('r'): write, flush and apply positions, all set to the durable position
 * (for a logical slot the server uses only flush, to set confirmed_flush_lsn).
 */
export function encodeStandbyStatusUpdate(position: Lsn, nowMs: number, replyRequested = false): Buffer {
  const buffer = Buffer.allocUnsafe(34)
  buffer[0] = 0x72 // r
  buffer.writeBigUInt64BE(position, 1)
  buffer.writeBigUInt64BE(position, 9)
  buffer.writeBigUInt64BE(position, 17)
  buffer.writeBigInt64BE(BigInt(Math.floor(nowMs)) * 1000n - PG_EPOCH_US, 25)
  buffer[33] = replyRequested ? 1 : 0
  return buffer
}
