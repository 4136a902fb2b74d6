/**
 * A `replication=database` connection: walsender commands (IDENTIFY_SYSTEM, CREATE/DROP slot)
 * through node-postgres, then START_REPLICATION, after which the connection belongs to the
 * ReplicationStream. Value-shaping settings are pinned at connection start, because pgoutput
 * formats values in the walsender's own session.
 */
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Socket } from 'node:net'
import { quoteIdent } from '../../postgres/sql-text.js'
import { InletError } from '../../errors/inlet-error.js'
import { connect, type SqlClient } from '../../postgres/connect.js'
import type { ConnectionSettings } from '../../postgres/connection-settings.js'
import { parseLsn, type Lsn } from '../../protocol/lsn.js'
import { EventAssembler } from './event-assembler.js'
import { createSlotCommand, startReplicationCommand, type CreateSlotOptions, type StartOptions } from './replication-commands.js'
import { ReplicationStream, type StreamTuning } from './replication-stream.js'
import { TransactionSpool } from './transaction-spool.js'

export interface SystemIdentity {
  readonly systemId: string
  readonly timeline: number
  readonly xlogPos: Lsn
  readonly database: string | null
}

export interface CreatedSlot {
  readonly slotName: string
  /** Streaming from here misses nothing the snapshot does not hold. */
  readonly consistentPoint: Lsn
  /** Exported snapshot, importable with SET TRANSACTION SNAPSHOT until the next command here. */
  readonly snapshotName: string | null
}

export interface StreamOptions extends StartOptions, StreamTuning {
  readonly slot: string
  /**
   * End LSN of the last transaction the consumer applied (0 = the slot's confirmed position).
   * Transactions that committed before it are skipped; their Relation messages are still learnt.
   */
  readonly resumeLsn: Lsn
  /**
   * Where the server starts (default: resumeLsn, so it skips applied transactions itself). 0 starts
   * at the slot's confirmed position and leaves the skipping to Inlet: for tests and recovery tools.
   */
  readonly startLsn?: Lsn
  /** Where streamed in-progress transactions spill; emptied at start. Default: a per-slot temp dir. */
  readonly spoolDirectory?: string
  /** Memory for buffered in-progress transactions before they spill. Default 32 MB. */
  readonly spoolMemoryBytes?: number
}

export class ReplicationConnection {
  private constructor(
    private readonly client: SqlClient,
    readonly serverVersionNum: number,
    /** The server's wal_sender_timeout in ms (0 = disabled). */
    readonly walSenderTimeoutMs: number,
  ) {}

  static async open(settings: ConnectionSettings): Promise<ReplicationConnection> {
    const client = await connect(settings, { replication: 'database', pinValueSettings: true })
    try {
      const { rows } = await client.query<{ server_version_num: string }>('SHOW server_version_num')
      const timeout = await client.query<{ wal_sender_timeout: string }>('SHOW wal_sender_timeout')
      return new ReplicationConnection(client, Number(rows[0]?.server_version_num), parseDurationMs(timeout.rows[0]?.wal_sender_timeout ?? '60s'))
    } catch (cause) {
      await client.end().catch(() => undefined)
      throw new InletError('INLET-S005', 'The replication connection could not read the server version.', { cause })
    }
  }

  async identifySystem(): Promise<SystemIdentity> {
    const row = (await this.command<{ systemid: string; timeline: number; xlogpos: string; dbname: string | null }>('IDENTIFY_SYSTEM'))[0]
    if (row === undefined) throw new InletError('INLET-S005', 'IDENTIFY_SYSTEM returned no row.')
    return { systemId: row.systemid, timeline: Number(row.timeline), xlogPos: parseLsn(row.xlogpos), database: row.dbname }
  }

  async createSlot(slot: string, options: CreateSlotOptions): Promise<CreatedSlot> {
    const row = (await this.command<{ slot_name: string; consistent_point: string; snapshot_name: string | null }>(createSlotCommand(this.serverVersionNum, slot, options)))[0]
    if (row === undefined) throw new InletError('INLET-S005', 'CREATE_REPLICATION_SLOT returned no row.')
    return { slotName: row.slot_name, consistentPoint: parseLsn(row.consistent_point), snapshotName: row.snapshot_name }
  }

  /** PG17+: makes an existing slot a failover slot (ALTER_REPLICATION_SLOT). */
  async setFailover(slot: string): Promise<void> {
    await this.command(`ALTER_REPLICATION_SLOT ${quoteIdent(slot)} (FAILOVER true)`)
  }

  async dropSlot(slot: string): Promise<void> {
    await this.command(`DROP_REPLICATION_SLOT "${slot.replace(/"/g, '""')}" WAIT`)
  }

  /** Starts streaming; the connection is the stream's from now on (close the stream, not this). */
  async startStreaming(options: StreamOptions): Promise<ReplicationStream> {
    const spool = new TransactionSpool(options.spoolDirectory ?? join(tmpdir(), `inlet-spool-${options.slot}`), options.spoolMemoryBytes ?? 32 * 1024 * 1024)
    const assembler = new EventAssembler(options.resumeLsn, spool)
    const socket = (this.client as unknown as { connection: { stream: Socket } }).connection.stream
    // Status updates well inside wal_sender_timeout: while the consumer is slow the socket is not
    // read, so the server's reply requests go unseen and only these updates keep it patient.
    const statusIntervalMs = options.statusIntervalMs ?? (this.walSenderTimeoutMs > 0 ? Math.max(100, Math.min(1000, this.walSenderTimeoutMs / 4)) : 1000)
    const stream = new ReplicationStream(this.client, socket, assembler, options.resumeLsn, { ...options, statusIntervalMs })
    const command = startReplicationCommand(this.serverVersionNum, options.slot, options.startLsn ?? options.resumeLsn, options)
    try {
      await stream.start(command)
    } catch (error) {
      spool.close()
      await this.close()
      throw error
    }
    return stream
  }

  async close(): Promise<void> {
    await this.client.end().catch(() => undefined)
  }

  private async command<T extends Record<string, unknown>>(text: string): Promise<T[]> {
    try {
      return (await this.client.query(text)).rows as T[]
    } catch (cause) {
      throw new InletError('INLET-S005', `${text.split(' ')[0]} failed: ${(cause as Error).message}.`, { cause })
    }
  }
}

/** PostgreSQL duration text as SHOW prints it ('60s', '500ms', '1min', '0') in milliseconds. */
export function parseDurationMs(text: string): number {
  const match = /^(\d+)\s*(ms|s|min|h|d)?$/.exec(text.trim())
  if (match === null) return 60_000
  const unit = { ms: 1, s: 1000, min: 60_000, h: 3_600_000, d: 86_400_000 }[(match[2] ?? 'ms') as 'ms']
  return Number(match[1]) * unit
}
