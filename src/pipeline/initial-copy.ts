/**
 * The copy of the tables a session needs copied, under the snapshot prepare-snapshot.ts exported:
 * parallel COPY into files the destination loads. A table marked for a refresh is loaded beside
 * itself and swapped in once loaded, so it stays readable, whole, until then.
 */
import type { ResolvedSource } from '../config/load.js'
import type { Destination } from '../destination/destination.js'
import type { TableTarget } from '../model/table-binding.js'
import type { Logger } from '../observability/log.js'
import { snapshotProgressLine } from '../observability/copy-progress.js'
import type { SourceMonitor } from '../observability/run-monitor.js'
import { formatLsn } from '../protocol/lsn.js'
import { runSnapshot } from '../source/snapshot/snapshot-reader.js'
import type { CreatedSlot } from '../source/stream/replication-connection.js'
import type { RefreshLoadedHook } from './stream/copies.js'
import { sameBinding, type PreparedSnapshot } from './prepare-snapshot.js'
import type { SourcePlan } from './source-plan.js'
import { workDirectory } from './work-directory.js'

export interface InitialCopyOptions {
  readonly destination: Destination
  readonly source: ResolvedSource
  readonly plan: SourcePlan
  readonly snapshot: PreparedSnapshot
  readonly workers: number
  readonly signal: AbortSignal | undefined
  readonly log: Logger
  readonly live: SourceMonitor
  readonly onRefreshLoaded?: RefreshLoadedHook | undefined
}

/** Copies the snapshot's tables; returns the rows copied. */
export async function copyTables(options: InitialCopyOptions): Promise<number> {
  const { destination, source, plan, snapshot, log, live } = options
  const created = snapshot.created as CreatedSlot
  const lsn = created.consistentPoint
  const { copies, loadTargets } = await createTables(destination, source, snapshot.targets, lsn)
  log.info('snapshot.start', `Snapshot of ${snapshot.targets.length} table(s) at ${formatLsn(lsn)}.`, { tables: snapshot.targets.length, lsn: formatLsn(lsn) })
  let total = 0
  const started = Date.now()
  let released = false
  await destination.beginBulkLoad()
  try {
    await runSnapshot({
      settings: source.connection,
      snapshotName: created.snapshotName as string,
      serverVersionNum: plan.serverVersionNum,
      targets: loadTargets,
      workers: options.workers,
      // A stop (or another source failing) ends the copy; its tables are copied again next run.
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      spoolDirectory: workDirectory(destination.localPath, 'snapshot', source.name, process.pid),
      onImported: async () => {
        released = true
        await snapshot.release()
      },
      loader: {
        load: (target, files) => destination.loadSnapshotFiles(target, files, lsn, snapshot.snapshotTime),
        tableDone: async (target, rows) => {
          const replaces = copies.get(target)
          if (replaces !== undefined) {
            await loadedHook(options, replaces, target)
            await destination.swapIn(target, replaces, lsn, rows)
            log.info('refresh.done', `Refreshed ${replaces.display}: ${rows} rows copied and swapped in.`, { table: replaces.display, rows })
          } else await destination.finishTable(target, lsn, rows)
          total += rows
          const done = live.table((replaces ?? target).display, `${(replaces ?? target).destSchema}.${(replaces ?? target).destName}`)
          done.phase = 'streaming'
          done.copy = undefined
          log.info('snapshot.table', `Copied ${target.display}: ${rows} rows.`, { table: target.display, rows })
        },
      },
      onProgress: (progress) => {
        for (const p of progress) {
          if (p.finishedAt !== undefined) continue
          const base = copies.get(p.target) ?? p.target
          const t = live.table(base.display, `${base.destSchema}.${base.destName}`)
          t.phase = copies.has(p.target) ? 'refreshing' : 'snapshot'
          t.copy = { rowsCopied: p.rowsCopied, bytesCopied: p.bytesCopied, estimatedRows: p.estimatedRows, startedAt: p.startedAt }
        }
        log.status(snapshotProgressLine(progress.map((p) => ({ ...p, display: p.target.display })), Date.now()))
      },
    })
  } finally {
    if (!released) await snapshot.release()
    await destination.endBulkLoad()
  }
  const seconds = (Date.now() - started) / 1000
  log.info('snapshot.done', `Snapshot done: ${total} rows in ${seconds.toFixed(1)} s.`, { rows: total, seconds })
  return total
}

/**
 * Creates the tables the copy loads into: a table asked to be refreshed is loaded beside itself
 * (`copies` maps each copy to the table it replaces), any other is created (empty) with its state.
 */
async function createTables(destination: Destination, source: ResolvedSource, targets: readonly TableTarget[], lsn: bigint): Promise<{ copies: Map<TableTarget, TableTarget>; loadTargets: TableTarget[] }> {
  const existing = await destination.tableNames()
  const states = await destination.readTables(source.name)
  const copies = new Map<TableTarget, TableTarget>()
  const loadTargets: TableTarget[] = []
  for (const target of targets) {
    const state = states.find((s) => s.sourceSchema === target.table.schema && s.sourceTable === target.table.name)
    if (state?.refreshRequested === true && state.phase === 'streaming' && sameBinding(state, target) && existing.has(destination.nameKey(target.destSchema, target.destName))) {
      const copy = destination.copyBeside(target)
      await destination.createTable(copy)
      copies.set(copy, target)
      loadTargets.push(copy)
      continue
    }
    await destination.assertOwnable(target)
    await destination.createTable(target, 'snapshot', lsn)
    loadTargets.push(target)
  }
  return { copies, loadTargets }
}

async function loadedHook(options: InitialCopyOptions, table: TableTarget, copy: TableTarget): Promise<void> {
  if (options.onRefreshLoaded === undefined) return
  const reader = await options.destination.openReader()
  try {
    await options.onRefreshLoaded(async <T>(sql: string) => (await reader.query(sql, 1_000_000)).rows as T[], `${table.destSchema}.${table.destName}`, `${copy.destSchema}.${copy.destName}`)
  } finally {
    await reader.close()
  }
}

