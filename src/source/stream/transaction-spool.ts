/**
 * Holds the changes of streamed in-progress transactions (pgoutput protocol 2+) until their Stream
 * Commit or Stream Abort. Each transaction's messages are kept in memory up to a shared limit and
 * spilled to a file of its own beyond it; replay reads file then memory, in arrival order, and
 * skips subtransactions that aborted. Files are removed on commit, abort, close, and (for a crash)
 * when the next spool opens the same directory.
 *
 * Record layout, in memory and on disk: Int32 subxid, Int32 length, payload (the pgoutput message).
 */
import { closeSync, mkdirSync, openSync, readSync, readdirSync, rmSync, writeSync } from 'node:fs'
import { join } from 'node:path'

const BLOCK_SIZE = 1 << 20
const RECORD_HEADER = 8
const READ_SIZE = 4 << 20

interface SpooledTransaction {
  blocks: Buffer[]
  /** Bytes used in each block (a block ends where the next record did not fit). */
  used: number[]
  memoryBytes: number
  file: string | undefined
  fd: number | undefined
  fileBytes: number
  abortedSubxids: Set<number>
  messages: number
}

export class TransactionSpool {
  private readonly transactions = new Map<number, SpooledTransaction>()
  private memoryBytes = 0

  /** Spills beyond `memoryLimit` bytes of buffered changes into `directory` (emptied first). */
  constructor(
    private readonly directory: string,
    private readonly memoryLimit: number,
  ) {
    mkdirSync(directory, { recursive: true })
    for (const name of readdirSync(directory)) if (name.endsWith('.spill')) rmSync(join(directory, name), { force: true })
  }

  get openTransactions(): number {
    return this.transactions.size
  }

  /** Bytes on disk across open transactions. */
  get spilledBytes(): number {
    let total = 0
    for (const t of this.transactions.values()) total += t.fileBytes
    return total
  }

  get bufferedBytes(): number {
    return this.memoryBytes
  }

  has(xid: number): boolean {
    return this.transactions.has(xid)
  }

  /** Copies one message of transaction `xid` (sent under subtransaction `subxid`). */
  append(xid: number, subxid: number, payload: Buffer): void {
    let t = this.transactions.get(xid)
    if (t === undefined) {
      t = { blocks: [], used: [], memoryBytes: 0, file: undefined, fd: undefined, fileBytes: 0, abortedSubxids: new Set(), messages: 0 }
      this.transactions.set(xid, t)
    }
    const size = RECORD_HEADER + payload.length
    let last = t.blocks.length - 1
    let block = t.blocks[last]
    if (block === undefined || block.length - (t.used[last] as number) < size) {
      block = Buffer.allocUnsafe(Math.max(BLOCK_SIZE, size))
      t.blocks.push(block)
      t.used.push(0)
      last++
      t.memoryBytes += block.length
      this.memoryBytes += block.length
    }
    const at = t.used[last] as number
    block.writeUInt32BE(subxid, at)
    block.writeUInt32BE(payload.length, at + 4)
    payload.copy(block, at + RECORD_HEADER)
    t.used[last] = at + size
    t.messages++
    if (this.memoryBytes > this.memoryLimit) this.spillLargest()
  }

  /** Stream Abort: the whole transaction when subxid = xid, else only that subtransaction. */
  abort(xid: number, subxid: number): void {
    if (xid === subxid) this.discard(xid)
    else this.transactions.get(xid)?.abortedSubxids.add(subxid)
  }

  /**
   * Yields the transaction's messages in arrival order, then forgets it (files removed). Each
   * message is a view valid until the next one is asked for: decode it before moving on.
   */
  *replay(xid: number): Generator<Buffer, void, undefined> {
    const t = this.transactions.get(xid)
    if (t === undefined) return
    try {
      if (t.fd !== undefined) yield* this.replayFile(t)
      for (let i = 0; i < t.blocks.length; i++) yield* records(t.blocks[i] as Buffer, 0, t.used[i] as number, t.abortedSubxids, true)
    } finally {
      this.discard(xid)
    }
  }

  discard(xid: number): void {
    const t = this.transactions.get(xid)
    if (t === undefined) return
    this.memoryBytes -= t.memoryBytes
    if (t.fd !== undefined) closeSync(t.fd)
    if (t.file !== undefined) rmSync(t.file, { force: true })
    this.transactions.delete(xid)
  }

  /** Drops every open transaction (reconnect: the server streams them again from the start). */
  clear(): void {
    for (const xid of [...this.transactions.keys()]) this.discard(xid)
  }

  /** Drops every open transaction and the directory. */
  close(): void {
    this.clear()
    rmSync(this.directory, { recursive: true, force: true })
  }

  private spillLargest(): void {
    while (this.memoryBytes > this.memoryLimit / 2) {
      let largest: SpooledTransaction | undefined
      let largestXid = 0
      for (const [xid, t] of this.transactions) {
        if (largest === undefined || t.memoryBytes > largest.memoryBytes) {
          largest = t
          largestXid = xid
        }
      }
      if (largest === undefined || largest.memoryBytes === 0) return
      if (largest.fd === undefined) {
        largest.file = join(this.directory, `${largestXid}.spill`)
        largest.fd = openSync(largest.file, 'w+')
      }
      for (let i = 0; i < largest.blocks.length; i++) {
        const used = largest.used[i] as number
        writeSync(largest.fd, largest.blocks[i] as Buffer, 0, used)
        largest.fileBytes += used
      }
      this.memoryBytes -= largest.memoryBytes
      largest.blocks = []
      largest.used = []
      largest.memoryBytes = 0
    }
  }

  /**
   * Reads the spilled file through one buffer, reused for every read: each record handed out is a
   * view into it, decoded by the consumer before the next read. (A new buffer per read left glibc
   * holding tens of MB it had freed, the read size being past its mmap threshold.)
   */
  private *replayFile(t: SpooledTransaction): Generator<Buffer, void, undefined> {
    const fd = t.fd as number
    let data = Buffer.allocUnsafe(READ_SIZE)
    let position = 0
    let carried = 0
    while (position < t.fileBytes) {
      const read = readSync(fd, data, carried, Math.min(data.length - carried, t.fileBytes - position), position)
      position += read
      const end = carried + read
      const rest = completeEnd(data, 0, end)
      yield* records(data, 0, rest, t.abortedSubxids, true)
      // The partial record at the end moves to the front (a record larger than the buffer grows it).
      carried = end - rest
      if (carried > 0) {
        const size = RECORD_HEADER + (carried >= RECORD_HEADER ? data.readUInt32BE(rest + 4) : 0)
        const next = size > data.length ? Buffer.allocUnsafe(size + READ_SIZE) : data
        data.copy(next, 0, rest, end)
        data = next
      }
    }
  }
}

/** Offset after the last complete record in data[from, end). */
function completeEnd(data: Buffer, from: number, end: number): number {
  let offset = from
  while (end - offset >= RECORD_HEADER) {
    const size = RECORD_HEADER + data.readUInt32BE(offset + 4)
    if (end - offset < size) break
    offset += size
  }
  return offset
}

function* records(data: Buffer, start: number, end: number, aborted: ReadonlySet<number>, complete: boolean): Generator<Buffer, void, undefined> {
  let offset = start
  while (end - offset >= RECORD_HEADER) {
    const subxid = data.readUInt32BE(offset)
    const length = data.readUInt32BE(offset + 4)
    if (end - offset - RECORD_HEADER < length) {
      if (complete) throw new Error('spool record truncated')
      return
    }
    const payload = data.subarray(offset + RECORD_HEADER, offset + RECORD_HEADER + length)
    offset += RECORD_HEADER + length
    if (!aborted.has(subxid)) yield payload
  }
}
