/**
 * The consistent parallel snapshot. Worker connections import the snapshot a replication slot
 * exported (SET TRANSACTION SNAPSHOT), so every worker sees the database exactly as of the slot's
 * consistent point; streaming from that point then adds exactly what the snapshot lacks.
 *
 * Each table (each leaf partition of a partitioned table) is cut into ranges of heap pages that
 * workers COPY in parallel (TID range scans, PostgreSQL 14+; one range per relation before). COPY
 * writes CSV, every value quoted (so NULL, unquoted empty, differs from the empty string), into
 * files of about 64 MB that DuckDB reads with its own parallel CSV reader and converts with the
 * same SQL as streamed values. Parsing a hundred million values in JavaScript would cost more than
 * the rest of the snapshot together; DuckDB's reader does it on its own threads.
 *
 *   workers (COPY ... TO STDOUT, CSV) ─▶ files ─▶ loader (INSERT ... SELECT convert(...) FROM read_csv)
 */
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { InletError } from '../../errors/inlet-error.js'
import { connect, type SqlClient } from '../../postgres/connect.js'
import type { ConnectionSettings } from '../../postgres/connection-settings.js'
import { quoteIdent, quoteLiteral } from '../../postgres/sql-text.js'
import type { HeapRelation } from '../../model/source-table.js'
import type { SnapshotFile } from '../../model/snapshot-file.js'
import type { TableTarget } from '../../model/table-binding.js'
import { CopyOut } from './copy-out.js'

/** Pages per COPY range: 128 MB of heap. */
const CHUNK_PAGES = 16_384
const FILE_BYTES = 32 * 1024 * 1024
const WRITE_BUFFER = 4 * 1024 * 1024
/** Files waiting for the loader before the workers stop reading. */
const MAX_PENDING_FILES = 6
/**
 * Files of one table loaded by one statement. DuckDB reads one CSV file on one thread, so a
 * statement over several files is what spreads the load over its threads (measured 1.8x on two).
 */
const FILES_PER_LOAD = 4

export interface SnapshotChunk {
  readonly target: TableTarget
  readonly heap: HeapRelation
  readonly fromPage: number
  /** Exclusive; undefined = to the end of the relation. */
  readonly toPage: number | undefined
}

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

export interface SnapshotOptions {
  readonly settings: ConnectionSettings
  readonly snapshotName: string
  readonly serverVersionNum: number
  readonly targets: readonly TableTarget[]
  readonly workers: number
  /** Directory for the CSV files (created and removed here). */
  readonly spoolDirectory: string
  readonly loader: SnapshotLoader
  /** Called once every worker holds the snapshot: the exporting connection may move on. */
  readonly onImported?: () => void | Promise<void>
  readonly onProgress?: (progress: readonly SnapshotProgress[]) => void
  /** Abandons the copy: workers stop, connections end, and runSnapshot rejects with the reason. */
  readonly signal?: AbortSignal
}

export function planChunks(targets: readonly TableTarget[], serverVersionNum: number): SnapshotChunk[] {
  const chunks: SnapshotChunk[] = []
  for (const target of targets) {
    for (const heap of target.table.heaps) {
      if (serverVersionNum < 140000 || heap.pages <= CHUNK_PAGES) {
        chunks.push({ target, heap, fromPage: 0, toPage: undefined })
        continue
      }
      for (let from = 0; from < heap.pages; from += CHUNK_PAGES) {
        const to = from + CHUNK_PAGES
        chunks.push({ target, heap, fromPage: from, toPage: to >= heap.pages ? undefined : to })
      }
    }
  }
  return chunks
}

export function copySql(chunk: SnapshotChunk): string {
  const columns = chunk.target.columns.map((c) => quoteIdent(c.name)).join(', ')
  const where: string[] = []
  if (chunk.fromPage > 0) where.push(`ctid >= '(${chunk.fromPage},0)'::tid`)
  if (chunk.toPage !== undefined) where.push(`ctid < '(${chunk.toPage},0)'::tid`)
  const relation = `ONLY ${quoteIdent(chunk.heap.schema)}.${quoteIdent(chunk.heap.name)}`
  const query = `SELECT ${columns === '' ? '' : columns} FROM ${relation}${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''}`
  return `COPY (${query}) TO STDOUT WITH (FORMAT csv${columns === '' ? '' : ', FORCE_QUOTE *'})`
}

/** Copies every target; resolves when all rows are loaded. */
export async function runSnapshot(options: SnapshotOptions): Promise<void> {
  const chunks = planChunks(options.targets, options.serverVersionNum).sort((a, b) => pagesOf(b) - pagesOf(a))
  const progress = new Map<TableTarget, SnapshotProgress>()
  const remaining = new Map<TableTarget, number>()
  for (const target of options.targets) {
    progress.set(target, { target, rowsCopied: 0, bytesCopied: 0, rowsLoaded: 0, estimatedRows: target.table.heaps.reduce((n, h) => n + h.estimatedRows, 0), startedAt: Date.now(), finishedAt: undefined })
    remaining.set(target, 0)
  }
  for (const c of chunks) remaining.set(c.target, (remaining.get(c.target) ?? 0) + 1)

  rmSync(options.spoolDirectory, { recursive: true, force: true })
  mkdirSync(options.spoolDirectory, { recursive: true })
  const clients: SqlClient[] = []
  const copies = new Set<CopyOut>()
  const files: Array<{ target: TableTarget; file: string; longest: number; heap: number; last: boolean }> = []
  let failure: Error | undefined
  let wakeLoader: (() => void) | undefined
  let producersDone = false
  let fileCounter = 0

  const onAbort = () => {
    failure ??= options.signal?.reason instanceof Error ? options.signal.reason : new Error('copy abandoned')
    for (const c of copies) c.resume()
    for (const c of clients) void c.end().catch(() => undefined)
    wakeLoader?.()
  }
  options.signal?.addEventListener('abort', onAbort)
  if (options.signal?.aborted === true) onAbort()
  const report = () => options.onProgress?.([...progress.values()])
  const timer = setInterval(report, 1000)
  timer.unref()

  const loaderLoop = async () => {
    for (;;) {
      if (failure !== undefined) return
      const next = files.shift()
      if (next === undefined) {
        if (producersDone) return
        await new Promise<void>((r) => (wakeLoader = r))
        continue
      }
      // The table's other files already waiting go into the same statement.
      const batch: SnapshotFile[] = next.file === '' ? [] : [{ path: next.file, longestLine: next.longest, partition: next.heap }]
      let last = next.last
      // (Of one partition only, where the rows record theirs.)
      const joins = (f: (typeof files)[number] | undefined) => f?.target === next.target && (next.target.partitionColumn !== true || f.heap === next.heap || f.file === '')
      while (!last && batch.length > 0 && batch.length < FILES_PER_LOAD && joins(files[0])) {
        const more = files.shift() as (typeof files)[number]
        if (more.file !== '') batch.push({ path: more.file, longestLine: more.longest, partition: more.heap })
        last = more.last
      }
      if (files.length < MAX_PENDING_FILES) for (const c of copies) c.resume()
      const p = progress.get(next.target) as SnapshotProgress
      if (batch.length > 0) {
        p.rowsLoaded += await options.loader.load(next.target, batch)
        for (const file of batch) rmSync(file.path, { force: true })
      }
      if (last) {
        await options.loader.tableDone(next.target, p.rowsLoaded)
        p.finishedAt = Date.now()
        report()
      }
    }
  }
  const enqueue = (entry: { target: TableTarget; file: string; longest: number; heap: number; last: boolean }) => {
    files.push(entry)
    wakeLoader?.()
    wakeLoader = undefined
  }

  try {
    const workerCount = Math.max(1, Math.min(options.workers, chunks.length))
    for (let i = 0; i < workerCount; i++) {
      const client = await connect(options.settings, { pinValueSettings: true })
      clients.push(client)
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY')
      await client.query(`SET TRANSACTION SNAPSHOT ${quoteLiteral(options.snapshotName)}`)
    }
    await options.onImported?.()

    const copyChunk = async (client: SqlClient, chunk: SnapshotChunk) => {
      const p = progress.get(chunk.target) as SnapshotProgress
      let fd: number | undefined
      let file = ''
      let fileBytes = 0
      let longest = 0
      const buffer = Buffer.allocUnsafe(WRITE_BUFFER)
      let used = 0
      const flush = () => {
        if (used === 0) return
        if (fd === undefined) {
          file = join(options.spoolDirectory, `chunk-${++fileCounter}.csv`)
          fd = openSync(file, 'w')
        }
        writeSync(fd, buffer, 0, used)
        used = 0
      }
      const rotate = (final = false) => {
        flush()
        if (fd !== undefined) {
          closeSync(fd)
          fd = undefined
          enqueue({ target: chunk.target, file, longest, heap: chunk.heap.oid, last: false })
          fileBytes = 0
          longest = 0
          if (!final && files.length >= MAX_PENDING_FILES) copy.pause()
        }
      }
      const copy = CopyOut.run(client, copySql(chunk), (row) => {
        if (used + row.length > buffer.length) flush()
        if (row.length > buffer.length) {
          if (fd === undefined) {
            file = join(options.spoolDirectory, `chunk-${++fileCounter}.csv`)
            fd = openSync(file, 'w')
          }
          writeSync(fd, row)
        } else {
          row.copy(buffer, used)
          used += row.length
        }
        fileBytes += row.length
        if (row.length > longest) longest = row.length
        p.rowsCopied++
        p.bytesCopied += row.length
        if (fileBytes >= FILE_BYTES) rotate()
      })
      copies.add(copy)
      try {
        await copy.done
      } catch (cause) {
        throw new InletError('INLET-S001', `Copying ${chunk.target.display} failed: ${(cause as Error).message}.`, { cause })
      } finally {
        copies.delete(copy)
        // The connection outlives this COPY: never leave its socket paused.
        copy.resume()
      }
      rotate(true)
      const left = (remaining.get(chunk.target) as number) - 1
      remaining.set(chunk.target, left)
      if (left === 0) enqueue({ target: chunk.target, file: '', longest: 0, heap: 0, last: true })
    }

    const queue = [...chunks]
    const worker = async (client: SqlClient) => {
      for (let chunk = queue.shift(); chunk !== undefined && failure === undefined; chunk = queue.shift()) await copyChunk(client, chunk)
      await client.query('COMMIT')
    }
    // Tables without any heap (an empty partitioned table) are done at once.
    for (const [target, count] of remaining) if (count === 0) enqueue({ target, file: '', longest: 0, heap: 0, last: true })
    const loader = loaderLoop().catch((error: Error) => {
      failure ??= error
      for (const c of copies) c.resume()
    })
    const workers = Promise.all(clients.map((c) => worker(c))).catch((error: Error) => {
      failure ??= error
    })
    await workers
    producersDone = true
    wakeLoader?.()
    await loader
    if (failure !== undefined) throw failure
    report()
  } finally {
    options.signal?.removeEventListener('abort', onAbort)
    clearInterval(timer)
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)))
    rmSync(options.spoolDirectory, { recursive: true, force: true })
  }
}

function pagesOf(chunk: SnapshotChunk): number {
  return (chunk.toPage ?? chunk.heap.pages) - chunk.fromPage
}
