/**
 * `inlet status`: per table its phase and rows, the checkpoint and the lag behind the source, the
 * slot's health and the last error. Asks the inlet run that holds the destination, if one does;
 * otherwise reads the file read-only and the sources' catalogs.
 */
import { loadConfig } from '../../config/load.js'
import { localPathOf } from '../../destination/registry.js'
import { askRun } from '../../observability/run-client.js'
import { formatEta } from '../../observability/copy-progress.js'
import type { StatusReport } from '../../observability/status-report.js'
import { readStatus } from '../../observability/status-read.js'
import { formatBytes } from '../../source/preflight/check-context.js'
import { COMMON_HELP, CONFIG_OPTIONS, configFlags, parseCommandArgs } from '../args.js'
import { bold, dim, out } from '../terminal.js'

export const STATUS_HELP = `inlet status: where each table stands, how far behind the source, and the slot's health

Per table: phase (snapshot with progress, streaming, refreshing, refresh pending, dropped, failed),
rows in the destination (current rows for SCD2), the last applied commit time, and while a run
streams, the changes it applied. Per source: the checkpoint, the lag in bytes and seconds, the
slot's retained WAL, wal_status, safe_wal_size, holder and (while a run streams) a forecast of
when the server would invalidate it, and the last error with its code. --json: one JSON document.

While an inlet run holds the file (DuckDB allows one writing process), the run answers on its
local socket; otherwise the file is read read-only. With no source given (no --source, no
--config or ./inlet.yaml, no PGHOST or PGDATABASE), status reads the sources the destination
holds, at the address their last run recorded (no password is recorded: PGPASSWORD or ~/.pgpass
gives it); a source it cannot reach shows why, beside what the destination knows.
${COMMON_HELP}`

export async function statusCommand(args: readonly string[]): Promise<number> {
  const { values } = parseCommandArgs('status', args, CONFIG_OPTIONS)
  if (values.help === true) {
    out(STATUS_HELP)
    return 0
  }
  const config = loadConfig(configFlags(values), process.env, { sourcesOptional: true })
  const path = localPathOf(config.destination)
  const report = (await askRun<StatusReport>(path, 'GET', '/status')) ?? (await readStatus(config))
  if (values.json === true) {
    out(JSON.stringify(report, null, 2))
    return 0
  }
  out(report.run === null ? dim(`${report.destination} (no inlet run holds it)`) : dim(`${report.destination} · inlet run PID ${report.run.pid} since ${report.run.since}`))
  for (const s of report.sources) {
    out(bold(`Source ${s.source} · slot ${s.slot}${s.phase === null ? '' : ` · ${s.phase}`}`))
    const slot = s.slotStatus
    const forecast = slot?.invalidationForecastSeconds == null ? '' : `, invalidated in ~${formatDuration(slot.invalidationForecastSeconds)} if it stopped advancing`
    out(`  slot: ${slot === null ? (s.slotError !== null ? `not read: ${s.slotError}` : s.phase === null ? 'missing' : 'not read yet') : `${slot.active ? `active (PID ${slot.activePid})` : 'inactive'}, retains ${slot.retainedBytes === null ? 'n/a' : formatBytes(slot.retainedBytes)}, wal_status ${slot.walStatus ?? '-'}${slot.safeWalSize === null ? '' : `, ${formatBytes(Math.max(0, slot.safeWalSize))} before invalidation${forecast}`}${slot.failover ? ', failover' : ''}${slot.walWarning ? ' (WARNING: past retained_wal_warning_mb, or running out of safe_wal_size)' : ''}`}`)
    if (report.destinationHeld) {
      out(`  destination: held by another process that does not answer as an inlet run`)
      continue
    }
    out(`  checkpoint: ${s.checkpointLsn ?? 'none yet'}${s.lastCommitTime === null ? '' : `, last commit ${s.lastCommitTime}`}${s.lagBytes === null ? '' : `, lag ${formatBytes(s.lagBytes)}${s.lagSeconds === null ? '' : ` / ${s.lagSeconds.toFixed(1)} s`}`}`)
    if (s.lastError !== null) out(`  last error: ${s.lastError.code} at ${s.lastError.at}: ${s.lastError.message}`)
    for (const t of s.tables) {
      const copy = t.copy === null ? '' : `, copied ${t.copy.rowsCopied}${t.copy.estimatedRows > 0 ? ` of ~${t.copy.estimatedRows}` : ''} rows${t.copy.percent === null ? '' : ` (${t.copy.percent}%${t.copy.etaSeconds === null ? '' : `, ETA ${formatEta(t.copy.etaSeconds)}`})`}`
      const applied = t.applied === null ? '' : `, applied ${t.applied.insert}/${t.applied.update}/${t.applied.delete} ins/upd/del`
      if (t.skipped !== undefined) {
        out(`  ${t.table}  ${dim(`skipped: ${t.skipped.reason}`)}${t.skipped.fix === undefined ? '' : `\n    fix: ${t.skipped.fix}`}`)
        continue
      }
      out(`  ${t.table} → ${t.destination}  ${dim(`${t.phase}${t.refreshPending && t.phase !== 'refresh pending' ? ', refresh pending' : ''}, ${t.rows ?? '?'} rows${copy}${applied}${t.lastCommitTime === null ? '' : `, last commit ${t.lastCommitTime}`}`)}`)
    }
  }
  return 0
}

function formatDuration(seconds: number): string {
  if (seconds >= 86_400) return `${(seconds / 86_400).toFixed(1)} d`
  if (seconds >= 3600) return `${(seconds / 3600).toFixed(1)} h`
  if (seconds >= 60) return `${Math.round(seconds / 60)} min`
  return `${Math.round(seconds)} s`
}
