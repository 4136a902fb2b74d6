/**
 * What the dashboard shows, from wherever it lives: the running run's own memory and connections
 * (`inlet run --ui`), the run that holds the destination asked on its local socket (`inlet ui`
 * while a run streams), or the destination read read-only (`inlet ui` with no run: nothing can be
 * refreshed then). The page sees the same shapes in every case.
 */
import type { ResolvedConfig } from '../../config/load.js'
import type { Destination, QueryReader, QueryResult } from '../../destination/destination.js'
import { localPathOf } from '../../destination/registry.js'
import { InletError } from '../../errors/inlet-error.js'
import type { SchemaChangeRecord } from '../../model/state.js'
import { displayName } from '../../postgres/sql-text.js'
import { runDoctor, type DoctorReport } from '../../source/preflight/doctor.js'
import { LiveHistory, type Sample } from '../live-history.js'
import { askRun } from '../run-client.js'
import type { RunMonitor } from '../run-monitor.js'
import { buildStatus, type StatusReport } from '../status-report.js'
import { readStatus, withReadOnly } from '../status-read.js'

export type DashboardMode = 'run' | 'socket' | 'read-only'

export interface TableDetail {
  readonly source: string
  readonly table: string
  readonly destination: string
  readonly scd: 1 | 2
  readonly phase: string
  readonly columns: ReadonlyArray<{ readonly name: string; readonly sourceType: string | null; readonly destinationType: string | null; readonly key: boolean }>
  readonly schemaChanges: readonly SchemaChangeRecord[]
}

export interface Overview {
  readonly mode: DashboardMode
  readonly status: StatusReport
  readonly history: Record<string, readonly Sample[]>
}

export interface DashboardData {
  overview(): Promise<Overview>
  table(source: string, table: string): Promise<TableDetail | undefined>
  query(sql: string, limit: number): Promise<QueryResult>
  /** Asks for a new copy of a streaming table; INLET-C004 when it cannot be done from here. */
  refresh(source: string, table: string): Promise<void>
  /** Doctor's findings for each configured source; undefined when no source is configured. */
  doctor(): Promise<DoctorReport | undefined>
}

/** A table's column mapping and schema-change history, by its `schema.table` display name. */
export async function tableDetail(destination: Destination, source: string, table: string, phase?: string): Promise<TableDetail | undefined> {
  const state = (await destination.readTables(source)).find((t) => displayName(t.sourceSchema, t.sourceTable) === table)
  if (state === undefined) return undefined
  return {
    source,
    table,
    destination: `${state.destSchema}.${state.destTable}`,
    scd: state.scd,
    phase: phase ?? state.phase,
    columns: state.columns.map((c) => ({ name: c.name, sourceType: c.source?.typeName ?? null, destinationType: c.type === undefined ? null : (destination.describeType?.(c.type) ?? c.type), key: c.key === true })),
    schemaChanges: await destination.readSchemaChanges(source, state.sourceSchema, state.sourceTable),
  }
}

/** Doctor reads each source's catalog: at most once in 30 s, whoever asks. */
function cachedDoctor(config: ResolvedConfig): () => Promise<DoctorReport | undefined> {
  let last: { at: number; report: Promise<DoctorReport> } | undefined
  return () => {
    if (config.sources.length === 0) return Promise.resolve(undefined)
    if (last === undefined || Date.now() - last.at > 30_000) {
      const report = runDoctor(config)
      report.catch(() => (last = undefined))
      last = { at: Date.now(), report }
    }
    return last.report
  }
}

export interface RunParts {
  readonly config: ResolvedConfig
  readonly state: Destination
  readonly reader: QueryReader
  readonly monitor: RunMonitor
  readonly history: LiveHistory
  readonly serial: <T>(work: () => Promise<T>) => Promise<T>
}

/** Inside `inlet run`: its memory, and its own connections one request at a time. */
export function runData(parts: RunParts): DashboardData & { refreshNames(entries: ReadonlyArray<{ source?: string; table?: string }>): Promise<string[]> } {
  const { config, state, reader, monitor, history, serial } = parts
  const refreshNames = async (entries: ReadonlyArray<{ source?: string; table?: string }>): Promise<string[]> => {
    const accepted: string[] = []
    for (const e of entries) {
      const live = e.source === undefined ? undefined : monitor.sources.get(e.source)
      if (live === undefined || typeof e.table !== 'string') continue
      const found = (await serial(() => state.readTables(live.name))).find((t) => t.phase === 'streaming' && displayName(t.sourceSchema, t.sourceTable) === e.table)
      if (found === undefined) continue
      live.refreshRequests.push([found.sourceSchema, found.sourceTable])
      accepted.push(`${live.name}:${e.table}`)
    }
    return accepted
  }
  return {
    overview: async () => ({ mode: 'run', status: await serial(() => buildStatus(config, state, monitor)), history: history.toJSON() }),
    table: (source, table) => serial(() => tableDetail(state, source, table, monitor.sources.get(source)?.tables.get(table)?.phase)),
    query: (sql, limit) => serial(() => reader.query(sql, limit)),
    refresh: async (source, table) => {
      if ((await refreshNames([{ source, table }])).length === 0) throw new InletError('INLET-C004', `${source}:${table} is not a streaming table of this run.`, { fix: 'Only a streaming table can be refreshed; wait for its copy to finish.' })
    },
    refreshNames,
    doctor: cachedDoctor(config),
  }
}

/**
 * `inlet ui`: through the run's socket while one holds the destination, else the destination
 * opened read-only for each request (so that a run can start meanwhile).
 */
export function destinationData(config: ResolvedConfig): DashboardData {
  const path = localPathOf(config.destination)
  const history = new LiveHistory()
  const withFile = async <T>(work: (destination: Destination) => Promise<T>): Promise<T> => {
    const result = await withReadOnly(config.destination, work)
    if (result === 'held') throw new InletError('INLET-D001', `The destination ${path} is held by a process that is not an inlet run answering on its socket.`, { fix: 'Stop that process (a DuckDB shell or script), or start inlet ui on the machine and as the user of the run.' })
    return result
  }
  return {
    overview: async () => {
      const running = await askRun<StatusReport>(path, 'GET', '/status')
      if (running !== undefined) return { mode: 'socket', status: running, history: (await askRun<Record<string, Sample[]>>(path, 'GET', '/history')) ?? {} }
      const status = await readStatus(config)
      history.sampleStatus(status)
      return { mode: 'read-only', status, history: history.toJSON() }
    },
    table: async (source, table) => {
      const query = `/table?source=${encodeURIComponent(source)}&table=${encodeURIComponent(table)}`
      const running = await askRun<{ table: TableDetail | null }>(path, 'GET', query)
      if (running !== undefined) return running.table ?? undefined
      return withFile((d) => tableDetail(d, source, table))
    },
    query: async (sql, limit) => (await askRun<QueryResult>(path, 'POST', '/query', { sql, limit })) ?? withFile(async (d) => {
      const reader = await d.openReader()
      try {
        return await reader.query(sql, limit)
      } finally {
        await reader.close()
      }
    }),
    refresh: async (source, table) => {
      const answer = await askRun<{ accepted: string[] }>(path, 'POST', '/refresh', { tables: [{ source, display: table }] })
      if (answer === undefined) throw new InletError('INLET-C004', 'No inlet run holds the destination, so nothing can copy the table now.', { fix: `Mark it for the next run: inlet refresh ${source}:${table}, or start inlet run.` })
      if (answer.accepted.length === 0) throw new InletError('INLET-C004', `${source}:${table} is not a streaming table of the running inlet run.`, { fix: 'Only a streaming table can be refreshed; wait for its copy to finish.' })
    },
    doctor: cachedDoctor(config),
  }
}
