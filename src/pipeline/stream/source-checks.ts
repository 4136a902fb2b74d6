/**
 * What a streaming run checks on its source now and then, on its SQL connection: tables newly in
 * the publication that no row has shown yet, the slot's health (retained WAL, how much more the
 * server allows, invalidation), and heartbeats that let an idle database's slot advance.
 */
import type { ResolvedConfig, ResolvedSource } from '../../config/load.js'
import { formatBytes, type Logger } from '../../observability/log.js'
import { walWarning, type SourceMonitor } from '../../observability/run-monitor.js'
import type { SqlClient } from '../../postgres/connect.js'
import { parseLsn } from '../../protocol/lsn.js'
import { readSlots } from '../../source/catalog.js'
import { slotInvalidated } from '../slot-errors.js'
import type { NewTables } from './new-tables.js'

/** How often a streaming run reads its slot's retained WAL and status. */
const SLOT_CHECK_MS = 15_000

/** How often a streaming run looks for tables newly in its publication that no row has shown yet. */
const PUBLICATION_CHECK_MS = 5_000

/** Prefix of the heartbeat messages (`heartbeat_seconds`). */
export const HEARTBEAT_PREFIX = 'inlet.heartbeat'

export interface SourceChecksOptions {
  readonly client: SqlClient
  readonly source: ResolvedSource
  readonly config: ResolvedConfig
  readonly serverVersionNum: number
  readonly live: SourceMonitor
  readonly log: Logger
  readonly newTables: NewTables
}

export class SourceChecks {
  private lastPublicationCheck = Date.now()
  private lastSlotCheck = 0
  private lastWalWarning = 0
  private lastHeartbeat = Date.now()

  constructor(private readonly options: SourceChecksOptions) {}

  /** Runs the checks that are due. */
  async due(now = Date.now()): Promise<void> {
    if (now - this.lastPublicationCheck >= PUBLICATION_CHECK_MS) await this.publication()
    if (now - this.lastSlotCheck >= SLOT_CHECK_MS) await this.slot()
    const heartbeatMs = (this.options.config.heartbeatSeconds ?? 0) * 1000
    if (heartbeatMs > 0 && now - this.lastHeartbeat >= heartbeatMs) {
      this.lastHeartbeat = now
      await this.options.client.query(`SELECT pg_logical_emit_message(false, $1, now()::text)`, [HEARTBEAT_PREFIX])
    }
  }

  /**
   * A table added to the publication (or created under FOR ALL TABLES / TABLES IN SCHEMA) shows in
   * the stream only with its first row; the publication's list is read so that one that stays
   * unchanged is copied too.
   */
  private async publication(): Promise<void> {
    this.lastPublicationCheck = Date.now()
    // OIDs from the catalog by name (to_regclass would need USAGE on every published schema, which
    // the replication user lacks for the DDL audit table's).
    const { rows } = await this.options.client.query<{ schema: string; name: string; oid: number | null }>(
      `SELECT p.schemaname AS schema, p.tablename AS name, c.oid::int AS oid FROM pg_publication_tables p ` +
        `LEFT JOIN pg_namespace n ON n.nspname = p.schemaname LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = p.tablename WHERE p.pubname = $1`,
      [this.options.source.publication],
    )
    // (A table dropped since the list was read has no OID any more.)
    for (const r of rows) if (r.oid !== null) await this.options.newTables.adopt(r.oid, r.schema, r.name)
  }

  /** The slot's health: WAL it retains, how much more the server allows (max_slot_wal_keep_size). */
  private async slot(): Promise<void> {
    const { client, source, live, log, config } = this.options
    this.lastSlotCheck = Date.now()
    const slot = (await readSlots(client, this.options.serverVersionNum)).find((s) => s.name === source.slot)
    const { rows } = await client.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')
    live.recordSlot(slot, parseLsn(rows[0]?.lsn ?? '0/0'))
    if (slot === undefined) return
    if (slot.walStatus === 'lost') throw slotInvalidated(source.slot, slot)
    const retained = slot.retainedBytes ?? 0
    live.walWarning = walWarning(slot, config.retainedWalWarningBytes)
    if (live.walWarning && Date.now() - this.lastWalWarning >= 60_000) {
      this.lastWalWarning = Date.now()
      log.warn('slot.wal', `Slot ${source.slot} retains ${formatBytes(retained)} of WAL (wal_status ${slot.walStatus ?? '?'}${slot.safeWalSize === null ? '' : `, ${formatBytes(Math.max(0, slot.safeWalSize))} more before the server invalidates it`}).`, {
        slot: source.slot,
        retainedBytes: retained,
        safeWalSize: slot.safeWalSize,
        walStatus: slot.walStatus,
      })
    }
  }
}
