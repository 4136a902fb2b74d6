/**
 * `inlet status`: per table its phase and rows, the checkpoint and the lag behind the source, and
 * the slot's health (retained WAL, wal_status, safe_wal_size, holder). Reads the destination file
 * read-only; while an inlet run holds it, says so and shows the source side only.
 */
import { DuckDBInstance } from '@duckdb/node-api'
import { resolve } from 'node:path'
import { loadConfig, type ResolvedSource } from '../../config/load.js'
import { InletError } from '../../errors/inlet-error.js'
import { connect } from '../../postgres/connect.js'
import { quoteIdent } from '../../postgres/sql-text.js'
import { formatLsn, parseLsn } from '../../protocol/lsn.js'
import { readSlots } from '../../source/catalog.js'
import { formatBytes } from '../../source/preflight/check-context.js'
import { COMMON_HELP, CONFIG_OPTIONS, configFlags, parseCommandArgs } from '../args.js'
import { bold, dim, out } from '../terminal.js'

export const STATUS_HELP = `inlet status: where each table stands, how far behind the source, and the slot's health

Per table: phase (snapshot, streaming, refresh pending, dropped), rows in the destination (current
rows for SCD2). Per source: the checkpoint, the last applied commit time, the lag in bytes and
seconds behind the source's WAL, and the slot's retained WAL, wal_status, safe_wal_size and holder.
With --json, the same as one JSON document.

Reads the destination read-only. While an inlet run holds the file (DuckDB allows one writing
process), the destination part is reported as held and the source part is shown.
${COMMON_HELP}`

interface TableStatus {
  readonly table: string
  readonly destination: string
  readonly phase: string
  readonly rows: number | null
  readonly refreshPending: boolean
}

interface SourceStatus {
  readonly source: string
  readonly slot: string
  readonly checkpointLsn: string | null
  readonly lastCommitTime: string | null
  readonly lagBytes: number | null
  readonly lagSeconds: number | null
  readonly slotStatus: { readonly active: boolean; readonly activePid: number | null; readonly retainedBytes: number | null; readonly walStatus: string | null; readonly safeWalSize: number | null } | null
  readonly destinationHeld: boolean
  readonly tables: readonly TableStatus[]
}

export async function statusCommand(args: readonly string[]): Promise<number> {
  const { values } = parseCommandArgs('status', args, CONFIG_OPTIONS)
  if (values.help === true) {
    out(STATUS_HELP)
    return 0
  }
  const config = loadConfig(configFlags(values))
  const path = resolve(config.destination.slice('duckdb:'.length))
  const report: SourceStatus[] = []
  for (const source of config.sources) report.push(await sourceStatus(source, path))
  if (values.json === true) {
    out(JSON.stringify(report, null, 2))
    return 0
  }
  for (const s of report) {
    out(bold(`Source ${s.source} · slot ${s.slot}`))
    const slot = s.slotStatus
    out(`  slot: ${slot === null ? 'missing' : `${slot.active ? `active (PID ${slot.activePid})` : 'inactive'}, retains ${slot.retainedBytes === null ? 'n/a' : formatBytes(slot.retainedBytes)}, wal_status ${slot.walStatus ?? '-'}${slot.safeWalSize === null ? '' : `, ${formatBytes(Math.max(0, slot.safeWalSize))} before invalidation`}`}`)
    if (s.destinationHeld) {
      out(`  destination: held by a running inlet run (its log has the details)`)
      continue
    }
    out(`  checkpoint: ${s.checkpointLsn ?? 'none yet'}${s.lastCommitTime === null ? '' : `, last commit ${s.lastCommitTime}`}${s.lagBytes === null ? '' : `, lag ${formatBytes(s.lagBytes)}${s.lagSeconds === null ? '' : ` / ${s.lagSeconds.toFixed(1)} s`}`}`)
    for (const t of s.tables) out(`  ${t.table} → ${t.destination}  ${dim(`${t.phase}${t.refreshPending ? ', refresh pending' : ''}, ${t.rows ?? '?'} rows`)}`)
  }
  return 0
}

async function sourceStatus(source: ResolvedSource, path: string): Promise<SourceStatus> {
  const client = await connect(source.connection)
  let current: bigint
  let slotStatus: SourceStatus['slotStatus']
  try {
    const { rows } = await client.query<{ lsn: string; v: string }>(`SELECT pg_current_wal_lsn()::text AS lsn, current_setting('server_version_num') AS v`)
    current = parseLsn(rows[0]?.lsn ?? '0/0')
    const slot = (await readSlots(client, Number(rows[0]?.v))).find((s) => s.name === source.slot)
    slotStatus = slot === undefined ? null : { active: slot.active, activePid: slot.activePid, retainedBytes: slot.retainedBytes, walStatus: slot.walStatus, safeWalSize: slot.safeWalSize }
  } finally {
    await client.end()
  }
  const base = { source: source.name, slot: source.slot, slotStatus }
  let instance: DuckDBInstance
  try {
    instance = await DuckDBInstance.create(path, { access_mode: 'READ_ONLY' })
  } catch (cause) {
    if (/lock/i.test((cause as Error).message)) return { ...base, checkpointLsn: null, lastCommitTime: null, lagBytes: null, lagSeconds: null, destinationHeld: true, tables: [] }
    throw new InletError('INLET-D001', `The destination ${path} cannot be opened: ${(cause as Error).message.split('\n')[0]}`, { cause, fix: 'Run inlet run first, or point --destination at the file it writes.' })
  }
  const connection = await instance.connect()
  try {
    const rows = async <T>(sql: string) => (await connection.runAndReadAll(sql)).getRowObjectsJS() as T[]
    const hasState = (await rows<{ n: bigint }>(`SELECT count(*) AS n FROM duckdb_tables() WHERE schema_name = '_inlet'`))[0]?.n ?? 0n
    if (Number(hasState) === 0) return { ...base, checkpointLsn: null, lastCommitTime: null, lagBytes: null, lagSeconds: null, destinationHeld: false, tables: [] }
    const state = (await rows<{ checkpoint_lsn: bigint; t: string | null; age: number | null }>(
      `SELECT checkpoint_lsn, CAST(checkpoint_commit_time AS VARCHAR) AS t, epoch(now()) - epoch(checkpoint_commit_time) AS age FROM _inlet.sources WHERE source = '${source.name.replaceAll("'", "''")}'`,
    ))[0]
    const tables: TableStatus[] = []
    for (const t of await rows<{ source_schema: string; source_table: string; dest_schema: string; dest_table: string; phase: string; scd: number; refresh_requested: boolean | null }>(
      `SELECT source_schema, source_table, dest_schema, dest_table, phase, scd, refresh_requested FROM _inlet.tables WHERE source = '${source.name.replaceAll("'", "''")}' ORDER BY 1, 2`,
    )) {
      const table = `${quoteIdent(t.dest_schema)}.${quoteIdent(t.dest_table)}`
      const count = await rows<{ n: bigint }>(`SELECT count(*) AS n FROM ${table}${Number(t.scd) === 2 ? ' WHERE "__END_AT" IS NULL' : ''}`).catch(() => [])
      tables.push({ table: `${t.source_schema}.${t.source_table}`, destination: `${t.dest_schema}.${t.dest_table}`, phase: t.phase, rows: count[0] === undefined ? null : Number(count[0].n), refreshPending: t.refresh_requested === true })
    }
    const checkpoint = state === undefined ? null : BigInt(state.checkpoint_lsn)
    const lagBytes = checkpoint === null || checkpoint === 0n ? null : Number(current > checkpoint ? current - checkpoint : 0n)
    return {
      ...base,
      checkpointLsn: checkpoint === null ? null : formatLsn(checkpoint),
      lastCommitTime: state?.t ?? null,
      lagBytes,
      // Seconds since the last applied commit: the lag when the source writes steadily.
      lagSeconds: state?.age === null || state?.age === undefined || lagBytes === 0 ? (lagBytes === 0 ? 0 : null) : Number(state.age),
      destinationHeld: false,
      tables,
    }
  } finally {
    connection.closeSync()
    instance.closeSync()
  }
}
