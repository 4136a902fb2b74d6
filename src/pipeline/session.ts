/**
 * One connection's worth of work for a source: plan the tables, reconcile slot and checkpoint,
 * copy what needs a copy, then stream until stopped or the connection is lost.
 */
import type { ResolvedConfig, ResolvedSource } from '../config/load.js'
import { isExactPattern, matchesPattern } from '../config/table-pattern.js'
import { displayName } from '../postgres/sql-text.js'
import type { Destination } from '../destination/destination.js'
import type { Logger } from '../observability/log.js'
import type { SourceMonitor } from '../observability/run-monitor.js'
import { connect, type SqlClient } from '../postgres/connect.js'
import { toSafeUrl } from '../postgres/connection-settings.js'
import type { Lsn } from '../protocol/lsn.js'
import { key } from '../source/selection.js'
import { followRenames } from './follow-renames.js'
import { copyTables } from './initial-copy.js'
import { prepareSnapshot } from './prepare-snapshot.js'
import { reportSkipped } from './skipped-tables.js'
import { planSource, unmatchedError, type SourcePlan } from './source-plan.js'
import type { BatchLimits } from './stream/batcher.js'
import type { BatchSummary } from './stream/committer.js'
import type { RefreshLoadedHook } from './stream/copies.js'
import { streamChanges } from './stream/stream-loop.js'

export interface SessionOptions {
  readonly config: ResolvedConfig
  readonly source: ResolvedSource
  readonly destination: Destination
  readonly log: Logger
  readonly live: SourceMonitor
  readonly once: boolean
  readonly signal: AbortSignal
  readonly resync: boolean
  readonly takeover: boolean
  readonly snapshotWorkers: number
  readonly batch?: Partial<BatchLimits> | undefined
  readonly onBatch?: ((summary: BatchSummary) => void) | undefined
  readonly onRefreshLoaded?: RefreshLoadedHook | undefined
  /** Set once the source answered (a failure before is a setup problem, not retried). */
  readonly reached: { source: boolean; streamed: boolean }
}

export interface SessionResult {
  readonly snapshotTables: number
  readonly snapshotRows: number
  readonly transactions: number
  readonly changes: number
  readonly checkpoint: Lsn
}

export async function runSession(options: SessionOptions): Promise<SessionResult> {
  const { config, source, destination, log, live, signal } = options
  let client: SqlClient | undefined
  try {
    client = await connect(source.connection, { pinValueSettings: true })
    options.reached.source = true
    const plan = await followRenames(await planWithRenames(client, source, config.scd, destination, log), destination, source)
    reportSkipped(plan.skipped, live, log)
    const snapshot = await prepareSnapshot({ client, destination, source, plan, log, resync: options.resync, takeover: options.takeover })
    await destination.writeSourceConnection(source.name, toSafeUrl(source.connection))
    let snapshotRows = 0
    try {
      if (snapshot.targets.length > 0) {
        live.phase = 'snapshot'
        snapshotRows = await copyTables({ destination, source, plan, snapshot, workers: options.snapshotWorkers, signal, log, live, onRefreshLoaded: options.onRefreshLoaded }).catch((error: unknown) => {
          if (signal.aborted) return 0
          throw error
        })
      }
    } finally {
      // Also when the copy fails: an open exporting connection would keep the process alive.
      await snapshot.release()
    }
    if (signal.aborted) return { snapshotTables: snapshot.targets.length, snapshotRows, transactions: 0, changes: 0, checkpoint: 0n }
    const states = new Map((await destination.readTables(source.name)).map((s) => [key(s.sourceSchema, s.sourceTable), s]))
    const streamed = await streamChanges({
      ...{ config, source, destination, client, plan, states, log, live, once: options.once, signal, batch: options.batch },
      ...{ snapshotWorkers: options.snapshotWorkers, onBatch: options.onBatch, onRefreshLoaded: options.onRefreshLoaded },
      onStreaming: () => (options.reached.streamed = true),
    })
    return { snapshotTables: snapshot.targets.length, snapshotRows, ...streamed }
  } finally {
    await client?.end().catch(() => undefined)
  }
}

/**
 * The plan; a table the selection names by a name it no longer has, but that streamed under it
 * (its OID recorded), was renamed while no run streamed: it is followed, and the run says what to
 * change in the config. Any other pattern that matches nothing is INLET-C004.
 */
async function planWithRenames(client: SqlClient, source: ResolvedSource, scd: 1 | 2, destination: Destination, log: Logger): Promise<SourcePlan> {
  const plan = await planSource(client, source, scd, destination)
  if (plan.unmatched.length === 0) return plan
  const states = await destination.readTables(source.name)
  const named = (p: (typeof plan.unmatched)[number]) => states.find((s) => s.phase === 'streaming' && s.sourceOid !== undefined && matchesPattern(p, s.sourceSchema, s.sourceTable))
  const renamed = plan.unmatched.flatMap((p) => (isExactPattern(p) && named(p) !== undefined ? [named(p)?.sourceOid as number] : []))
  const followed = renamed.length === 0 ? plan : await planSource(client, source, scd, destination, renamed)
  const still = followed.unmatched.filter((p) => !(isExactPattern(p) && renamed.includes(named(p)?.sourceOid ?? -1) && followed.targets.some((t) => t.table.oid === named(p)?.sourceOid)))
  if (still.length > 0) throw unmatchedError(still, source.connection.database)
  for (const oid of renamed) {
    const t = followed.targets.find((x) => x.table.oid === oid)
    const was = states.find((s) => s.sourceOid === oid)
    if (t !== undefined && was !== undefined) log.warn('table.renamed', `${displayName(was.sourceSchema, was.sourceTable)}, selected by that name, is now ${t.display}; it keeps streaming into ${was.destSchema}.${was.destTable}. Name it ${t.display} in tables: (or --tables) from now on.`, { table: t.display })
  }
  return followed
}
