/**
 * The snapshot's spool between the COPY workers and the loader. Each worker writes its COPY's
 * rows into CSV files of about 32 MB; one loader takes them in order and hands several files of a
 * table to the destination per statement. While too many files wait, the workers pause their
 * COPY (the socket is not read, so disk use stays bounded); a failure on either side stops both.
 */
import { closeSync, openSync, rmSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { InletError } from '../../errors/inlet-error.js'
import type { SqlClient } from '../../postgres/connect.js'
import type { SnapshotFile } from '../../model/snapshot-file.js'
import type { TableTarget } from '../../model/table-binding.js'
import { CopyOut } from './copy-out.js'

const FILE_BYTES = 32 * 1024 * 1024
const WRITE_BUFFER = 4 * 1024 * 1024
/** Files waiting for the loader before the workers stop reading. */
const MAX_PENDING_FILES = 6
/**
 * Files of one table loaded by one statement. DuckDB reads one CSV file on one thread, so a
 * statement over several files is what spreads the load over its threads (measured 1.8x on two).
 */
const FILES_PER_LOAD = 4

export interface SnapshotProgress {
  readonly target: TableTarget
  /** Rows received from the source. */
  rowsCopied: number
  bytesCopied: number
  /** Rows committed in the destination. */
  rowsLoaded: number
  readonly estimatedRows: number
  readonly startedAt: number
  finishedAt: number | undefined
}

export interface SnapshotLoader {
  /** Loads CSV files of the target's rows; returns the number of rows. */
  load(target: TableTarget, files: readonly SnapshotFile[]): Promise<number>
  /** Every row of the target is loaded. */
  tableDone(target: TableTarget, rows: number): Promise<void>
}

/** A file for the loader; `file` '' with `last` marks a table whose every chunk is spooled. */
export interface SpooledFile {
  readonly target: TableTarget
  readonly file: string
  readonly longest: number
  readonly heap: number
  readonly last: boolean
}

export class Spool {
  readonly files: SpooledFile[] = []
  /** COPYs in flight, paused while the spool is full. */
  readonly copies = new Set<CopyOut>()
  failure: Error | undefined
  private wakeLoader: (() => void) | undefined
  private producersDone = false
  private fileCounter = 0

  constructor(private readonly directory: string) {}

  newFile(): string {
    return join(this.directory, `chunk-${++this.fileCounter}.csv`)
  }

  push(entry: SpooledFile): void {
    this.files.push(entry)
    this.wakeLoader?.()
    this.wakeLoader = undefined
  }

  /** The first failure wins; paused COPYs and a waiting loader wake up to see it. */
  fail(error: Error): void {
    this.failure ??= error
    this.resumeCopies()
    this.wakeLoader?.()
  }

  resumeCopies(): void {
    for (const c of this.copies) c.resume()
  }

  get full(): boolean {
    return this.files.length >= MAX_PENDING_FILES
  }

  producersFinished(): void {
    this.producersDone = true
    this.wakeLoader?.()
  }

  /** The next file, once there is one; undefined when every producer is done and all is taken, or on failure. */
  async next(): Promise<SpooledFile | undefined> {
    for (;;) {
      if (this.failure !== undefined) return undefined
      const next = this.files.shift()
      if (next !== undefined) return next
      if (this.producersDone) return undefined
      await new Promise<void>((r) => (this.wakeLoader = r))
    }
  }
}

/** The loader: takes spooled files as they come, several of one table (of one partition, where rows record theirs) per statement. */
export async function loadSpooled(spool: Spool, loader: SnapshotLoader, progress: ReadonlyMap<TableTarget, SnapshotProgress>, report: () => void): Promise<void> {
  for (let next = await spool.next(); next !== undefined; next = await spool.next()) {
    const first = next
    const batch: SnapshotFile[] = first.file === '' ? [] : [{ path: first.file, longestLine: first.longest, partition: first.heap }]
    let last = first.last
    const joins = (f: SpooledFile | undefined) => f?.target === first.target && (first.target.partitionColumn !== true || f.heap === first.heap || f.file === '')
    while (!last && batch.length > 0 && batch.length < FILES_PER_LOAD && joins(spool.files[0])) {
      const more = spool.files.shift() as SpooledFile
      if (more.file !== '') batch.push({ path: more.file, longestLine: more.longest, partition: more.heap })
      last = more.last
    }
    if (!spool.full) spool.resumeCopies()
    const p = progress.get(first.target) as SnapshotProgress
    if (batch.length > 0) {
      p.rowsLoaded += await loader.load(first.target, batch)
      for (const file of batch) rmSync(file.path, { force: true })
    }
    if (last) {
      await loader.tableDone(first.target, p.rowsLoaded)
      p.finishedAt = Date.now()
      report()
    }
  }
}

/** One worker's COPY of a chunk into spooled files (pausing while the spool is full). */
export async function spoolChunk(spool: Spool, client: SqlClient, target: TableTarget, heap: number, copySql: string, p: SnapshotProgress): Promise<void> {
  let fd: number | undefined
  let file = ''
  let fileBytes = 0
  let longest = 0
  const buffer = Buffer.allocUnsafe(WRITE_BUFFER)
  let used = 0
  const open = () => {
    if (fd !== undefined) return fd
    file = spool.newFile()
    return (fd = openSync(file, 'w'))
  }
  const flush = () => {
    if (used === 0) return
    writeSync(open(), buffer, 0, used)
    used = 0
  }
  const rotate = (final = false) => {
    flush()
    if (fd === undefined) return
    closeSync(fd)
    fd = undefined
    spool.push({ target, file, longest, heap, last: false })
    fileBytes = 0
    longest = 0
    // (Not after a failure: nothing would resume it, and ending its connection would wait for it.)
    if (!final && spool.full && spool.failure === undefined) copy.pause()
  }
  const copy = CopyOut.run(client, copySql, (row) => {
    if (used + row.length > buffer.length) flush()
    if (row.length > buffer.length) writeSync(open(), row)
    else {
      row.copy(buffer, used)
      used += row.length
    }
    fileBytes += row.length
    if (row.length > longest) longest = row.length
    p.rowsCopied++
    p.bytesCopied += row.length
    if (fileBytes >= FILE_BYTES) rotate()
  })
  spool.copies.add(copy)
  try {
    await copy.done
  } catch (cause) {
    throw new InletError('INLET-S001', `Copying ${target.display} failed: ${(cause as Error).message}.`, { cause })
  } finally {
    spool.copies.delete(copy)
    // The connection outlives this COPY: never leave its socket paused.
    copy.resume()
  }
  rotate(true)
}

