/**
 * Prometheus text exposition (version 0.0.4) of a running run's state: changes applied by table
 * and operation, batch apply latency, lag in bytes and seconds, copy progress, the slot's retained
 * WAL, safe_wal_size, status and invalidation forecast, and errors by code. Labels carry source,
 * slot and table names only.
 */
import { APPLY_BUCKETS, type RunMonitor } from './run-monitor.js'

const WAL_STATUSES = ['reserved', 'extended', 'unreserved', 'lost']

export function renderMetrics(monitor: RunMonitor): string {
  const out: string[] = []
  const family = (name: string, type: 'counter' | 'gauge' | 'histogram', help: string) => out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`)
  const sample = (name: string, labels: Record<string, string>, value: number) => {
    const text = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')
    out.push(`${name}${text === '' ? '' : `{${text}}`} ${formatValue(value)}`)
  }
  const sources = [...monitor.sources.values()]

  family('inlet_up', 'gauge', 'Whether each source is streaming or copying (1) or stopped, reconnecting or failed (0).')
  for (const s of sources) sample('inlet_up', { source: s.name }, s.up ? 1 : 0)

  family('inlet_changes_applied_total', 'counter', 'Row changes applied to the destination (committed), by table and operation.')
  for (const s of sources) for (const t of s.tables.values()) for (const [op, n] of Object.entries(t.applied)) sample('inlet_changes_applied_total', { source: s.name, table: t.table, operation: op }, n)

  family('inlet_table_last_commit_timestamp_seconds', 'gauge', 'Source commit time of the last transaction applied to the table.')
  for (const s of sources) for (const t of s.tables.values()) if (t.lastCommitTime !== undefined) sample('inlet_table_last_commit_timestamp_seconds', { source: s.name, table: t.table }, t.lastCommitTime / 1e6)

  family('inlet_table_phase', 'gauge', 'Table phase: 1 for the phase the table is in (snapshot, streaming, refreshing, dropped, skipped: cannot be followed, see inlet status).')
  for (const s of sources) for (const t of s.tables.values()) for (const phase of ['snapshot', 'streaming', 'refreshing', 'dropped', 'skipped']) sample('inlet_table_phase', { source: s.name, table: t.table, phase }, t.phase === phase ? 1 : 0)

  family('inlet_snapshot_rows_copied', 'gauge', 'Rows copied so far by a table copy in progress (snapshot or refresh).')
  for (const s of sources) for (const t of s.tables.values()) if (t.copy !== undefined) sample('inlet_snapshot_rows_copied', { source: s.name, table: t.table }, t.copy.rowsCopied)
  family('inlet_snapshot_rows_estimated', 'gauge', 'The planner\'s estimate of the rows a table copy in progress will copy.')
  for (const s of sources) for (const t of s.tables.values()) if (t.copy !== undefined) sample('inlet_snapshot_rows_estimated', { source: s.name, table: t.table }, t.copy.estimatedRows)

  family('inlet_batch_apply_seconds', 'histogram', 'Time to apply one batch and its checkpoint in one destination transaction.')
  for (const s of sources) {
    APPLY_BUCKETS.forEach((bound, i) => sample('inlet_batch_apply_seconds_bucket', { source: s.name, le: String(bound) }, s.batchBuckets[i] ?? 0))
    sample('inlet_batch_apply_seconds_bucket', { source: s.name, le: '+Inf' }, s.batchCount)
    sample('inlet_batch_apply_seconds_sum', { source: s.name }, s.batchSeconds)
    sample('inlet_batch_apply_seconds_count', { source: s.name }, s.batchCount)
  }

  family('inlet_checkpoint_lsn', 'gauge', 'The checkpoint: end LSN of the last transaction durable in the destination (and confirmed to the slot), as a number.')
  for (const s of sources) sample('inlet_checkpoint_lsn', { source: s.name }, Number(s.checkpoint))
  family('inlet_lag_bytes', 'gauge', 'WAL bytes between the server\'s current position and the checkpoint.')
  for (const s of sources) if (s.serverLsn > 0n && s.checkpoint > 0n) sample('inlet_lag_bytes', { source: s.name }, s.lagBytes)
  family('inlet_lag_seconds', 'gauge', 'Seconds the oldest committed but not yet applied source transaction has waited; 0 when caught up.')
  for (const s of sources) {
    const lag = s.lagSeconds
    if (lag !== undefined) sample('inlet_lag_seconds', { source: s.name }, lag)
  }
  family('inlet_last_commit_timestamp_seconds', 'gauge', 'Source commit time of the last transaction applied.')
  for (const s of sources) if (s.lastCommitTime !== undefined) sample('inlet_last_commit_timestamp_seconds', { source: s.name }, s.lastCommitTime / 1e6)

  family('inlet_slot_retained_wal_bytes', 'gauge', 'WAL the slot keeps on the server (current LSN - restart_lsn).')
  for (const s of sources) if (s.slot?.retainedBytes != null) sample('inlet_slot_retained_wal_bytes', { source: s.name, slot: s.slotName }, s.slot.retainedBytes)
  family('inlet_slot_safe_wal_size_bytes', 'gauge', 'WAL the server may still write before it invalidates the slot (absent when max_slot_wal_keep_size is unlimited).')
  for (const s of sources) if (s.slot?.safeWalSize != null) sample('inlet_slot_safe_wal_size_bytes', { source: s.name, slot: s.slotName }, s.slot.safeWalSize)
  family('inlet_slot_status', 'gauge', 'The slot\'s wal_status: 1 for the current one.')
  for (const s of sources) if (s.slot !== undefined) for (const status of WAL_STATUSES) sample('inlet_slot_status', { source: s.name, slot: s.slotName, wal_status: status }, s.slot.walStatus === status ? 1 : 0)
  family('inlet_slot_wal_warning', 'gauge', 'The slot retains more WAL than retained_wal_warning_mb, its safe_wal_size is below it, or it is unreserved (1).')
  for (const s of sources) if (s.slot !== undefined) sample('inlet_slot_wal_warning', { source: s.name, slot: s.slotName }, s.walWarning ? 1 : 0)
  family('inlet_slot_active', 'gauge', 'Whether a process holds the slot.')
  for (const s of sources) if (s.slot !== undefined) sample('inlet_slot_active', { source: s.name, slot: s.slotName }, s.slot.active ? 1 : 0)
  family('inlet_slot_invalidation_forecast_seconds', 'gauge', 'If the slot stopped advancing now: seconds until the server invalidates it, at the WAL rate last measured (safe_wal_size / WAL bytes per second). Absent when max_slot_wal_keep_size is unlimited.')
  for (const s of sources) {
    const forecast = s.invalidationForecastSeconds
    if (forecast !== undefined) sample('inlet_slot_invalidation_forecast_seconds', { source: s.name, slot: s.slotName }, forecast)
  }
  family('inlet_source_wal_bytes_per_second', 'gauge', 'WAL the source server writes per second, measured between slot checks.')
  for (const s of sources) if (s.walBytesPerSecond !== undefined) sample('inlet_source_wal_bytes_per_second', { source: s.name }, s.walBytesPerSecond)

  family('inlet_errors_total', 'counter', 'Errors met by this process, by Inlet error code (reconnects count as INLET-N001).')
  for (const [code, n] of monitor.errors) sample('inlet_errors_total', { code }, n)
  return `${out.join('\n')}\n`
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN'
  if (value === Infinity) return '+Inf'
  if (value === -Infinity) return '-Inf'
  return String(value)
}
