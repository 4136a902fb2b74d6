/**
 * `inlet status`: per table its phase and rows, the checkpoint and the lag behind the source, and
 * the slot's health (retained WAL, wal_status, safe_wal_size, holder). Reads the destination file
 * read-only; while an inlet run holds it, says so and shows the source side only.
 */
import { resolve } from 'node:path'
import { loadConfig, type ResolvedSource } from '../../config/load.js'
import { DuckDbDestination } from '../../destination/duckdb/duckdb-destination.js'
import { connect } from '../../postgres/connect.js'
import { formatLsn, parseLsn } from '../../protocol/lsn.js'
import { readSlots, serverVersionNum } from '../../source/catalog.js'
import { key } from '../../source/selection.js'
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
    current = parseLsn((await client.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]?.lsn ?? '0/0')
    const slot = (await readSlots(client, await serverVersionNum(client))).find((s) => s.name === source.slot)
    slotStatus = slot === undefined ? null : { active: slot.active, activePid: slot.activePid, retainedBytes: slot.retainedBytes, walStatus: slot.walStatus, safeWalSize: slot.safeWalSize }
  } finally {
    await client.end()
  }
  const empty = { source: source.name, slot: source.slot, slotStatus, checkpointLsn: null, lastCommitTime: null, lagBytes: null, lagSeconds: null, destinationHeld: false, tables: [] }
  let destination: DuckDbDestination
  try {
    destination = await DuckDbDestination.open(path, { readOnly: true })
  } catch (error) {
    if (DuckDbDestination.isHeld(error)) return { ...empty, destinationHeld: true }
    throw error
  }
  try {
    if (!(await destination.hasState())) return empty
    const state = await destination.readSource(source.name)
    const tables: TableStatus[] = []
    for (const t of (await destination.readTables(source.name)).sort((a, b) => key(a.sourceSchema, a.sourceTable).localeCompare(key(b.sourceSchema, b.sourceTable)))) {
      const rows = await destination.currentRows(t).catch(() => null)
      tables.push({ table: `${t.sourceSchema}.${t.sourceTable}`, destination: `${t.destSchema}.${t.destTable}`, phase: t.phase, rows, refreshPending: t.refreshRequested })
    }
    const checkpoint = state?.checkpointLsn ?? 0n
    const lagBytes = checkpoint === 0n ? null : Number(current > checkpoint ? current - checkpoint : 0n)
    const commitTime = state?.checkpointCommitTime ?? null
    // Seconds since the last applied commit: the lag while the source writes steadily; 0 when caught up.
    const lagSeconds = lagBytes === 0 ? 0 : commitTime === null ? null : (Date.now() - Date.parse(commitTime.replace(' ', 'T').replace(/([+-]\d\d)$/, '$1:00'))) / 1000
    return { ...empty, checkpointLsn: checkpoint === 0n ? null : formatLsn(checkpoint), lastCommitTime: commitTime, lagBytes, lagSeconds, tables }
  } finally {
    await destination.close()
  }
}
