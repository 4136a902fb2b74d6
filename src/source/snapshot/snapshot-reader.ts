/**
 * The consistent parallel snapshot. Worker connections import the snapshot a replication slot
 * exported (SET TRANSACTION SNAPSHOT), so every worker sees the database exactly as of the slot's
 * consistent point; streaming from that point then adds exactly what the snapshot lacks.
 *
 * Each table (each leaf partition of a partitioned table) is cut into ranges of heap pages that
 * workers COPY in parallel (TID range scans, PostgreSQL 14+; one range per relation before). COPY
 * writes CSV, every value quoted (so NULL, unquoted empty, differs from the empty string), into
 * files of about 32 MB that DuckDB reads with its own parallel CSV reader and converts with the
 * same SQL as streamed values. Parsing a hundred million values in JavaScript would cost more than
 * the rest of the snapshot together; DuckDB's reader does it on its own threads.
 *
 *   workers (COPY ... TO STDOUT, CSV) ─▶ files ─▶ loader (INSERT ... SELECT convert(...) FROM read_csv)
 */
import { mkdirSync, rmSync } from 'node:fs'
import { connect, type SqlClient } from '../../postgres/connect.js'
import type { ConnectionSettings } from '../../postgres/connection-settings.js'
import { quoteIdent, quoteLiteral } from '../../postgres/sql-text.js'
import type { HeapRelation } from '../../model/source-table.js'
import type { TableTarget } from '../../model/table-binding.js'
import { loadSpooled, Spool, spoolChunk, type SnapshotLoader, type SnapshotProgress } from './spool.js'

export type { SnapshotLoader, SnapshotProgress } from './spool.js'

/** Pages per COPY range: 128 MB of heap. */
const CHUNK_PAGES = 16_384

export interface SnapshotChunk {
  readonly target: TableTarget
  readonly heap: HeapRelation
  readonly fromPage: number
  /** Exclusive; undefined = to the end of the relation. */
  readonly toPage: number | undefined
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
  const spool = new Spool(options.spoolDirectory)
  const clients: SqlClient[] = []
  const onAbort = () => {
    spool.fail(options.signal?.reason instanceof Error ? options.signal.reason : new Error('copy abandoned'))
    for (const c of clients) void c.end().catch(() => undefined)
  }
  options.signal?.addEventListener('abort', onAbort)
  if (options.signal?.aborted === true) onAbort()
  const report = () => options.onProgress?.([...progress.values()])
  const timer = setInterval(report, 1000)
  timer.unref()

  try {
    const workerCount = Math.max(1, Math.min(options.workers, chunks.length))
    for (let i = 0; i < workerCount; i++) {
      const client = await connect(options.settings, { pinValueSettings: true })
      clients.push(client)
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY')
      await client.query(`SET TRANSACTION SNAPSHOT ${quoteLiteral(options.snapshotName)}`)
    }
    await options.onImported?.()

    const queue = [...chunks]
    const worker = async (client: SqlClient) => {
      for (let chunk = queue.shift(); chunk !== undefined && spool.failure === undefined; chunk = queue.shift()) {
        await spoolChunk(spool, client, chunk.target, chunk.heap.oid, copySql(chunk), progress.get(chunk.target) as SnapshotProgress)
        const left = (remaining.get(chunk.target) as number) - 1
        remaining.set(chunk.target, left)
        if (left === 0) spool.push({ target: chunk.target, file: '', longest: 0, heap: 0, last: true })
      }
      await client.query('COMMIT')
    }
    // Tables without any heap (an empty partitioned table) are done at once.
    for (const [target, count] of remaining) if (count === 0) spool.push({ target, file: '', longest: 0, heap: 0, last: true })
    const loader = loadSpooled(spool, options.loader, progress, report).catch((error: Error) => spool.fail(error))
    await Promise.all(clients.map((c) => worker(c))).catch((error: Error) => spool.fail(error))
    spool.producersFinished()
    await loader
    if (spool.failure !== undefined) throw spool.failure
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
