/**
 * The shapes the dashboard's API answers with, as the page uses them (the server's own types live
 * in src/observability: status-report.ts, live-history.ts, dashboard/dashboard-data.ts).
 */
export interface CopyStatus { rowsCopied: number; estimatedRows: number; bytesCopied: number; rowsPerSecond: number; percent: number | null; etaSeconds: number | null }
export interface Applied { insert: number; update: number; delete: number; truncate: number }

export interface TableStatus {
  table: string
  destination: string
  phase: string
  rows: number | null
  refreshPending: boolean
  lastCommitTime: string | null
  copy: CopyStatus | null
  applied: Applied | null
  skipped?: { reason: string; fix?: string }
}

export interface SlotStatus { active: boolean; activePid: number | null; retainedBytes: number | null; walStatus: string | null; safeWalSize: number | null; invalidationForecastSeconds: number | null; walWarning: boolean }

export interface SourceStatus {
  source: string
  slot: string
  phase: string | null
  checkpointLsn: string | null
  lastCommitTime: string | null
  lagBytes: number | null
  lagSeconds: number | null
  slotStatus: SlotStatus | null
  slotError: string | null
  lastError: { code: string; message: string; table?: string; fix?: string; at: string } | null
  tables: TableStatus[]
}

export interface Sample { at: number; lagBytes: number | null; lagSeconds: number | null; changesPerSecond: number | null; retainedBytes: number | null; safeWalSize: number | null }

export interface Overview {
  mode: 'run' | 'socket' | 'read-only'
  status: { destination: string; run: { pid: number; since: string } | null; destinationHeld: boolean; sources: SourceStatus[] }
  history: Record<string, Sample[]>
  /** Live updates after the first: `history` holds only the samples since the last update. */
  append?: boolean
}

export interface TableDetail {
  source: string
  table: string
  destination: string
  scd: 1 | 2
  phase: string
  columns: Array<{ name: string; sourceType: string | null; destinationType: string | null; key: boolean }>
  schemaChanges: Array<{ at: string; change: string }>
}

export interface Finding { check: string; level: 'ok' | 'info' | 'warn' | 'fail'; code: string; message: string; fix?: string }
export interface DoctorReport { sources: Array<{ source: string; target: string; findings: Finding[]; error?: { code: string; message: string; cause?: string; fix?: string } }>; exitCode: number }

export interface QueryResult { columns: Array<{ name: string; type: string }>; rows: Array<Record<string, unknown>>; truncated: boolean }

export interface ApiError { error: { code: string; message: string; fix?: string } }
