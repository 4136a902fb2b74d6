/**
 * Checked big-endian reads over one protocol message. Every read verifies the remaining length
 * first and throws ProtocolError (tag + offset) instead of reading past the end, so no input can
 * crash the decoder or make it loop.
 */
import { ProtocolError } from './protocol-error.js'

/** Microseconds between the Unix epoch and PostgreSQL's epoch (2000-01-01 UTC). */
export const PG_EPOCH_OFFSET_US = 946_684_800_000_000

export class BufferReader {
  offset: number
  readonly end: number

  constructor(
    readonly buffer: Buffer,
    public tag: string,
    start = 0,
    end = buffer.length,
  ) {
    this.offset = start
    this.end = end
  }

  get remaining(): number {
    return this.end - this.offset
  }

  fail(problem: string): never {
    throw new ProtocolError(this.tag, this.offset, problem)
  }

  private need(bytes: number, what: string): void {
    if (this.end - this.offset < bytes) this.fail(`${what} needs ${bytes} bytes, ${this.end - this.offset} left`)
  }

  uint8(what = 'byte'): number {
    this.need(1, what)
    return this.buffer[this.offset++] as number
  }

  int16(what = 'int16'): number {
    this.need(2, what)
    const value = this.buffer.readInt16BE(this.offset)
    this.offset += 2
    return value
  }

  int32(what = 'int32'): number {
    this.need(4, what)
    const value = this.buffer.readInt32BE(this.offset)
    this.offset += 4
    return value
  }

  uint32(what = 'uint32'): number {
    this.need(4, what)
    const value = this.buffer.readUInt32BE(this.offset)
    this.offset += 4
    return value
  }

  /** Unsigned 64-bit value (LSNs). */
  uint64(what = 'uint64'): bigint {
    this.need(8, what)
    const value = this.buffer.readBigUInt64BE(this.offset)
    this.offset += 8
    return value
  }

  /** A PostgreSQL TimestampTz (µs since 2000-01-01) as µs since the Unix epoch. */
  timestamp(what = 'timestamp'): number {
    this.need(8, what)
    // hi * 2^32 + lo: exact for any real timestamp, and never throws on garbage.
    const hi = this.buffer.readInt32BE(this.offset)
    const lo = this.buffer.readUInt32BE(this.offset + 4)
    this.offset += 8
    return hi * 4294967296 + lo + PG_EPOCH_OFFSET_US
  }

  /** NUL-terminated UTF-8 string. */
  cstring(what = 'string'): string {
    const nul = this.buffer.indexOf(0, this.offset)
    if (nul === -1 || nul >= this.end) this.fail(`${what} has no terminating NUL`)
    const value = this.buffer.toString('utf8', this.offset, nul)
    this.offset = nul + 1
    return value
  }

  /** `length` bytes as a view (no copy). */
  bytes(length: number, what = 'bytes'): Buffer {
    if (length < 0) this.fail(`${what} has negative length ${length}`)
    this.need(length, what)
    const value = this.buffer.subarray(this.offset, this.offset + length)
    this.offset += length
    return value
  }

  /** `length` bytes of UTF-8 text. */
  text(length: number, what = 'text'): string {
    if (length < 0) this.fail(`${what} has negative length ${length}`)
    this.need(length, what)
    const value = this.buffer.toString('utf8', this.offset, this.offset + length)
    this.offset += length
    return value
  }

  expectEnd(): void {
    if (this.offset !== this.end) this.fail(`${this.end - this.offset} unexpected trailing bytes`)
  }
}
