/**
 * Builds pgoutput messages byte by byte, one function per message, following
 * https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html.
 * For hand-built decoder tests; real captured bytes live in test/fixtures/pgoutput.
 */
import { PG_EPOCH_OFFSET_US } from '../../src/protocol/buffer-reader.js'

export class Bytes {
  private readonly parts: Buffer[] = []
  byte(v: number | string): this {
    this.parts.push(Buffer.from([typeof v === 'string' ? v.charCodeAt(0) : v]))
    return this
  }
  int16(v: number): this {
    const b = Buffer.alloc(2)
    b.writeInt16BE(v)
    this.parts.push(b)
    return this
  }
  int32(v: number): this {
    const b = Buffer.alloc(4)
    b.writeInt32BE(v)
    this.parts.push(b)
    return this
  }
  uint32(v: number): this {
    const b = Buffer.alloc(4)
    b.writeUInt32BE(v)
    this.parts.push(b)
    return this
  }
  uint64(v: bigint): this {
    const b = Buffer.alloc(8)
    b.writeBigUInt64BE(v)
    this.parts.push(b)
    return this
  }
  /** µs since the Unix epoch, written as PostgreSQL's µs since 2000. */
  time(unixUs: number): this {
    const b = Buffer.alloc(8)
    b.writeBigInt64BE(BigInt(unixUs - PG_EPOCH_OFFSET_US))
    this.parts.push(b)
    return this
  }
  cstring(s: string): this {
    this.parts.push(Buffer.from(s, 'utf8'), Buffer.from([0]))
    return this
  }
  raw(b: Buffer): this {
    this.parts.push(b)
    return this
  }
  build(): Buffer {
    return Buffer.concat(this.parts)
  }
}

export type Col = { kind: 'n' } | { kind: 'u' } | { kind: 't'; value: string } | { kind: 'b'; value: Buffer }

export function tuple(b: Bytes, cols: Col[]): Bytes {
  b.int16(cols.length)
  for (const c of cols) {
    b.byte(c.kind)
    if (c.kind === 't') {
      const data = Buffer.from(c.value, 'utf8')
      b.int32(data.length).raw(data)
    } else if (c.kind === 'b') b.int32(c.value.length).raw(c.value)
  }
  return b
}

const xidPrefix = (b: Bytes, xid?: number) => (xid === undefined ? b : b.uint32(xid))

export const pgoutput = {
  begin: (finalLsn: bigint, time: number, xid: number) => new Bytes().byte('B').uint64(finalLsn).time(time).uint32(xid).build(),
  commit: (commitLsn: bigint, endLsn: bigint, time: number) => new Bytes().byte('C').byte(0).uint64(commitLsn).uint64(endLsn).time(time).build(),
  origin: (lsn: bigint, name: string) => new Bytes().byte('O').uint64(lsn).cstring(name).build(),
  relation: (oid: number, ns: string, name: string, identity: string, cols: Array<{ key: boolean; name: string; type: number; mod: number }>, xid?: number) => {
    const b = xidPrefix(new Bytes().byte('R'), xid).uint32(oid).cstring(ns).cstring(name).byte(identity).int16(cols.length)
    for (const c of cols) b.byte(c.key ? 1 : 0).cstring(c.name).uint32(c.type).int32(c.mod)
    return b.build()
  },
  type: (oid: number, ns: string, name: string, xid?: number) => xidPrefix(new Bytes().byte('Y'), xid).uint32(oid).cstring(ns).cstring(name).build(),
  insert: (oid: number, cols: Col[], xid?: number) => tuple(xidPrefix(new Bytes().byte('I'), xid).uint32(oid).byte('N'), cols).build(),
  update: (oid: number, old: { kind: 'K' | 'O'; cols: Col[] } | undefined, cols: Col[], xid?: number) => {
    const b = xidPrefix(new Bytes().byte('U'), xid).uint32(oid)
    if (old !== undefined) tuple(b.byte(old.kind), old.cols)
    return tuple(b.byte('N'), cols).build()
  },
  delete: (oid: number, kind: 'K' | 'O', cols: Col[], xid?: number) => tuple(xidPrefix(new Bytes().byte('D'), xid).uint32(oid).byte(kind), cols).build(),
  truncate: (oids: number[], options: number, xid?: number) => {
    const b = xidPrefix(new Bytes().byte('T'), xid).int32(oids.length).byte(options)
    for (const o of oids) b.uint32(o)
    return b.build()
  },
  message: (transactional: boolean, lsn: bigint, prefix: string, content: Buffer, xid?: number) =>
    xidPrefix(new Bytes().byte('M'), xid).byte(transactional ? 1 : 0).uint64(lsn).cstring(prefix).int32(content.length).raw(content).build(),
  streamStart: (xid: number, first: boolean) => new Bytes().byte('S').uint32(xid).byte(first ? 1 : 0).build(),
  streamStop: () => new Bytes().byte('E').build(),
  streamCommit: (xid: number, commitLsn: bigint, endLsn: bigint, time: number) => new Bytes().byte('c').uint32(xid).byte(0).uint64(commitLsn).uint64(endLsn).time(time).build(),
  streamAbort: (xid: number, subxid: number, abort?: { lsn: bigint; time: number }) => {
    const b = new Bytes().byte('A').uint32(xid).uint32(subxid)
    if (abort !== undefined) b.uint64(abort.lsn).time(abort.time)
    return b.build()
  },
  beginPrepare: (prepareLsn: bigint, endLsn: bigint, time: number, xid: number, gid: string) => new Bytes().byte('b').uint64(prepareLsn).uint64(endLsn).time(time).uint32(xid).cstring(gid).build(),
  prepare: (tag: 'P' | 'p', prepareLsn: bigint, endLsn: bigint, time: number, xid: number, gid: string) => new Bytes().byte(tag).byte(0).uint64(prepareLsn).uint64(endLsn).time(time).uint32(xid).cstring(gid).build(),
  commitPrepared: (commitLsn: bigint, endLsn: bigint, time: number, xid: number, gid: string) => new Bytes().byte('K').byte(0).uint64(commitLsn).uint64(endLsn).time(time).uint32(xid).cstring(gid).build(),
  rollbackPrepared: (prepareEnd: bigint, rollbackEnd: bigint, prepareTime: number, rollbackTime: number, xid: number, gid: string) =>
    new Bytes().byte('r').byte(0).uint64(prepareEnd).uint64(rollbackEnd).time(prepareTime).time(rollbackTime).uint32(xid).cstring(gid).build(),
}
