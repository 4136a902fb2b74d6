/**
 * `inlet run`: every configured source side by side into one destination, each copying what
 * needs a copy and then streaming its changes until stopped (or, with `once`, until caught up with
 * the WAL position current when streaming began). A source whose connection or server fails
 * reconnects with backoff and resumes from its checkpoint.
 *
 * Exactly once: each batch of whole transactions commits in the destination together with its
 * checkpoint (the last commit's end LSN); only then is the LSN confirmed to the slot. A restart
 * resumes from the checkpoint and the stream skips every transaction committed before it. See
 * docs/lifecycle.md for the states of a source and of a table.
 */
import type { ResolvedConfig, ResolvedSource } from '../config/load.js'
import type { Destination } from '../destination/destination.js'
import { destinationHeld, openDestination } from '../destination/registry.js'
import { InletError } from '../errors/inlet-error.js'
import { isRetryable } from '../errors/retry.js'
import { silentLogger, type Logger } from '../observability/log.js'
import { RunMonitor, type SourceMonitor } from '../observability/run-monitor.js'
import type { Lsn } from '../protocol/lsn.js'
import { limitYoungGeneration } from './heap-governor.js'
import { runSession, type SessionResult } from './session.js'
import type { BatchLimits } from './stream/batcher.js'
import type { BatchSummary } from './stream/committer.js'
import type { RefreshLoadedHook } from './stream/copies.js'
import { removeStaleWorkDirectories } from './work-directory.js'

export type { BatchLimits } from './stream/batcher.js'
export { DEFAULT_BATCH } from './stream/batcher.js'
export type { BatchSummary } from './stream/committer.js'

export interface RunOptions {
  readonly config: ResolvedConfig
  readonly once?: boolean
  readonly signal?: AbortSignal
  readonly snapshotWorkers?: number
  readonly batch?: Partial<BatchLimits>
  readonly log?: Logger
  /** The slot is gone: create it again and copy every table again (`inlet run --resync`). */
  readonly resync?: boolean
  /** The slot is held by a previous Inlet process: end that process's connection and take over. */
  readonly takeover?: boolean
  /** Called after each committed batch (for tests and the demo). */
  readonly onBatch?: (summary: BatchSummary) => void
  /** Live state for status and metrics; a new one when not given. */
  readonly monitor?: RunMonitor
  /** Starts what the run offers while it holds the destination (`inlet run` serves its local API and metrics). */
  readonly serve?: (destination: Destination, monitor: RunMonitor) => Promise<RunServices>
  /** Called when a refreshed copy is loaded, before it replaces the table (tests read both then). */
  readonly onRefreshLoaded?: RefreshLoadedHook
  /**
   * For tests: wraps the destination the run opens (fault injection through the contract, see
   * test/support/faulty-destination.ts).
   */
  readonly wrapDestination?: (destination: Destination) => Destination
}

export interface RunResult {
  readonly snapshotTables: number
  readonly snapshotRows: number
  readonly transactions: number
  readonly changes: number
  /** The first source's checkpoint (see `checkpoints` for every source's). */
  readonly checkpoint: Lsn
  readonly checkpoints: ReadonlyArray<{ readonly source: string; readonly checkpoint: Lsn }>
}

/** Services a run offers while it holds the destination (the local API, metrics); closed at the end. */
export interface RunServices {
  close(): Promise<void>
}

/**
 * Readers without a run (inlet status, inlet query, inlet ui) hold a DuckDB file for well under a
 * second at a time: a run that meets one waits up to 5 s for it rather than fail (INLET-D001).
 */
async function openWhenFree(open: () => Promise<Destination>): Promise<Destination> {
  const deadline = Date.now() + 5000
  for (;;) {
    try {
      return await open()
    } catch (error) {
      if (!destinationHeld(error) || Date.now() > deadline) throw error
      await new Promise((r) => setTimeout(r, 200))
    }
  }
}

export async function runPipeline(options: RunOptions): Promise<RunResult> {
  limitYoungGeneration()
  const { config } = options
  const log = options.log ?? silentLogger
  const monitor = options.monitor ?? new RunMonitor()
  const wrap = options.wrapDestination ?? ((d: Destination) => d)
  const onWidened = (w: { table: string; column: string; from: string }) =>
    log.warn('schema.widen', `${w.table}.${w.column} received a value its type ${w.from} cannot hold (NaN in a numeric(p,s), an infinite interval, an array with explicit bounds): it holds PostgreSQL's text form of every value (VARCHAR) from now on.`, { table: w.table, column: w.column, from: w.from })
  const destination = wrap(
    await openWhenFree(() => openDestination(config.destination, { droppedColumns: config.droppedColumns, memoryBytes: config.memory.destinationBytes, memoryCeilingBytes: config.memory.destinationCeilingBytes, onWidened })),
  )
  // The run holds the destination: scratch directories named after it are a dead run's.
  removeStaleWorkDirectories(destination.localPath)
  // One writer per source: their batches commit side by side (each writes its own tables and
  // state rows), so a busy source never waits for another's batch.
  const writers = [destination]
  // One source failing stops the others cleanly (their batches commit, their slots are confirmed).
  const stop = new AbortController()
  const onAbort = () => stop.abort()
  options.signal?.addEventListener('abort', onAbort)
  if (options.signal?.aborted === true) stop.abort()
  let services: RunServices | undefined
  try {
    for (let i = 1; i < config.sources.length; i++) writers.push(wrap(await destination.openWriter()))
    if (options.serve !== undefined) services = await options.serve(destination, monitor)
    const results = await runSources(config, writers, { ...options, signal: stop.signal }, log, monitor, () => stop.abort())
    return {
      snapshotTables: results.reduce((n, r) => n + r.snapshotTables, 0),
      snapshotRows: results.reduce((n, r) => n + r.snapshotRows, 0),
      transactions: results.reduce((n, r) => n + r.transactions, 0),
      changes: results.reduce((n, r) => n + r.changes, 0),
      checkpoint: results[0]?.checkpoint ?? 0n,
      checkpoints: results.map((r, i) => ({ source: config.sources[i]?.name ?? '', checkpoint: r.checkpoint })),
    }
  } finally {
    options.signal?.removeEventListener('abort', onAbort)
    await services?.close().catch(() => undefined)
    for (const w of writers.slice(1)) await w.close().catch(() => undefined)
    await destination.close()
  }
}

/** Every source at once; the first to fail is the cause, and stops the others. */
async function runSources(config: ResolvedConfig, writers: readonly Destination[], options: RunOptions & { signal: AbortSignal }, log: Logger, monitor: RunMonitor, stopAll: () => void): Promise<SessionResult[]> {
  const several = config.sources.length > 1
  let firstFailure: { error: unknown } | undefined
  const outcomes = await Promise.allSettled(
    config.sources.map(async (source, i) => {
      const sourceLog = several ? withSource(log, source.name) : log
      const writer = writers[i] as Destination
      try {
        return await runSource(writer, source, options, sourceLog, monitor)
      } catch (error) {
        // The first source to fail is the cause; the others are only stopping.
        const first = firstFailure === undefined
        firstFailure ??= { error }
        stopAll()
        monitor.source(source.name, source.slot).phase = 'failed'
        if (!first && isRetryable(error)) throw error
        const record = monitor.recordError(error, source.name)
        await writer.writeLastError(source.name, record).catch(() => undefined)
        if (several) sourceLog.warn('source.failed', `Source ${source.name} stopped: ${record.code} ${record.message}${first ? ' Stopping the others.' : ''}`, { code: record.code })
        throw error
      }
    }),
  )
  if (firstFailure !== undefined) throw firstFailure.error
  return outcomes.map((o) => (o as PromiseFulfilledResult<SessionResult>).value)
}

/** One source, from its first connection to its stop: reconnects when the network or server fails. */
async function runSource(destination: Destination, source: ResolvedSource, options: RunOptions & { signal: AbortSignal }, log: Logger, monitor: RunMonitor): Promise<SessionResult> {
  const live = monitor.source(source.name, source.slot)
  const reached = { source: false, streamed: false }
  for (let attempt = 0; ; attempt++) {
    const began = Date.now()
    try {
      const result = await runSession({
        ...{ config: options.config, source, destination, log, live, reached, once: options.once === true, signal: options.signal },
        ...{ resync: options.resync === true && attempt === 0, takeover: options.takeover === true, snapshotWorkers: options.snapshotWorkers ?? 2 },
        ...{ batch: options.batch, onBatch: options.onBatch, onRefreshLoaded: options.onRefreshLoaded },
      })
      live.phase = 'stopped'
      return result
    } catch (error) {
      if (!shouldReconnect(error, reached) || options.signal.aborted) throw error
      monitor.recordError(error, source.name, true)
      live.phase = 'reconnecting'
      if (Date.now() - began > 60_000) attempt = 0
      const wait = Math.min(30_000, 1000 * 2 ** Math.min(attempt, 5))
      log.warn('source.reconnect', `${error instanceof Error ? error.message : String(error)} Reconnecting in ${wait / 1000} s (attempt ${attempt + 1}).`, { attempt: attempt + 1, waitMs: wait })
      await sleep(wait, options.signal)
      if (options.signal.aborted) return stoppedResult(destination, source, live)
    }
  }
}

/**
 * A lost connection or a restarting server: reconnect with backoff and resume from the checkpoint
 * (nothing past it was acknowledged, so nothing is lost or applied twice). A source never reached
 * in this process is a setup problem, reported at once; so is a slot held by another process
 * before this run ever streamed it (after a lost connection it is the old walsender, not yet gone).
 */
function shouldReconnect(error: unknown, reached: { source: boolean; streamed: boolean }): boolean {
  if (!isRetryable(error) || !reached.source) return false
  return !(error instanceof InletError && error.code === 'INLET-S002' && !reached.streamed)
}

async function stoppedResult(destination: Destination, source: ResolvedSource, live: SourceMonitor): Promise<SessionResult> {
  live.phase = 'stopped'
  const checkpoint = (await destination.readSource(source.name))?.checkpointLsn ?? 0n
  return { snapshotTables: 0, snapshotRows: 0, transactions: 0, changes: 0, checkpoint }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    // The listener goes with the wait: a run reconnecting for hours must not pile them up.
    const done = () => {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal.addEventListener('abort', done, { once: true })
  })
}

/** Log lines of one source among several carry its name. */
function withSource(log: Logger, name: string): Logger {
  return {
    info: (event, message, fields) => log.info(event, `[${name}] ${message}`, { source: name, ...fields }),
    warn: (event, message, fields) => log.warn(event, `[${name}] ${message}`, { source: name, ...fields }),
    status: (text) => log.status(`[${name}] ${text}`),
  }
}
