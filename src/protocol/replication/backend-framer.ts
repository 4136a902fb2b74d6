/**
 * Splits the bytes of a replication connection in CopyBoth mode into backend messages
 * (Byte1 type, Int32 length including itself, payload). Payloads are views into the received
 * chunks (socket chunks are never reused); a message that spans chunks is copied once, when its
 * last byte has arrived.
 */
import { ProtocolError } from '../protocol-error.js'

export interface BackendMessage {
  /** Message type byte: 'd' CopyData, 'W' CopyBothResponse, 'E' error, 'N' notice, 'c' CopyDone, ... */
  readonly type: number
  readonly payload: Buffer
}

/** PostgreSQL caps a protocol message at 1 GB; anything larger is a broken stream. */
const MAX_MESSAGE = 0x4000_0000 + 64

export class BackendFramer {
  /** Parts of a message that spans chunks, and their byte count. */
  private parts: Buffer[] = []
  private partBytes = 0

  /** Appends a chunk and calls `onMessage` for each complete message, in order. */
  push(chunk: Buffer, onMessage: (type: number, payload: Buffer) => void): void {
    let offset = 0
    if (this.partBytes > 0) {
      // Complete the spanning message by copying only its own bytes (not the rest of the chunk).
      this.parts.push(chunk)
      const first = this.parts[0] as Buffer
      const head = first.length >= 5 ? first : Buffer.concat(this.parts)
      if (head.length < 5) {
        this.parts = [head]
        this.partBytes = head.length
        return
      }
      const type = head[0] as number
      const length = head.readUInt32BE(1)
      if (length < 4 || length > MAX_MESSAGE) throw new ProtocolError('backend message', 0, `implausible length ${length} for type 0x${type.toString(16)}`)
      const total = 1 + length
      if (this.partBytes + chunk.length < total) {
        this.partBytes += chunk.length
        return
      }
      this.parts.pop()
      offset = total - this.partBytes
      this.parts.push(chunk.subarray(0, offset))
      const message = Buffer.concat(this.parts, total)
      this.parts = []
      this.partBytes = 0
      onMessage(type, message.subarray(5))
    }
    const end = chunk.length
    while (end - offset >= 5) {
      const type = chunk[offset] as number
      const length = chunk.readUInt32BE(offset + 1)
      if (length < 4 || length > MAX_MESSAGE) throw new ProtocolError('backend message', offset, `implausible length ${length} for type 0x${type.toString(16)}`)
      const next = offset + 1 + length
      if (next > end) break
      onMessage(type, chunk.subarray(offset + 5, next))
      offset = next
    }
    if (offset < end) {
      this.parts = [chunk.subarray(offset)]
      this.partBytes = end - offset
    }
  }

  /** Bytes of a partial message waiting for the next chunk. */
  get buffered(): number {
    return this.partBytes
  }
}

/** Fields of an ErrorResponse or NoticeResponse: S severity, C SQLSTATE, M message, D detail, H hint. */
export function parseErrorFields(payload: Buffer): Record<string, string> {
  const fields: Record<string, string> = {}
  let offset = 0
  while (offset < payload.length && payload[offset] !== 0) {
    const key = String.fromCharCode(payload[offset] as number)
    const end = payload.indexOf(0, offset + 1)
    if (end === -1) break
    fields[key] = payload.toString('utf8', offset + 1, end)
    offset = end + 1
  }
  return fields
}

export function copyDataMessage(payload: Buffer): Buffer {
  const header = Buffer.allocUnsafe(5)
  header[0] = 0x64 // d
  header.writeUInt32BE(payload.length + 4, 1)
  return Buffer.concat([header, payload])
}

export const COPY_DONE = Buffer.from([0x63, 0, 0, 0, 4])

export function simpleQueryMessage(sql: string): Buffer {
  const text = Buffer.from(`${sql}\0`, 'utf8')
  const header = Buffer.allocUnsafe(5)
  header[0] = 0x51 // Q
  header.writeUInt32BE(text.length + 4, 1)
  return Buffer.concat([header, text])
}
