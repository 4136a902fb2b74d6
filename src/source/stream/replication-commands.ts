/**
 * Walsender command text, chosen from server_version_num so that the server never sees an option
 * it would reject (pgoutput raises an ERROR for any option it does not know).
 */
import { InletError } from '../../errors/inlet-error.js'
import { formatLsn, type Lsn } from '../../protocol/lsn.js'
import { quoteIdent } from '../../postgres/sql-text.js'

export type SnapshotMode = 'export' | 'use' | 'nothing'

export interface CreateSlotOptions {
  readonly snapshot: SnapshotMode
  readonly temporary?: boolean
  /** PG17+: synchronise the slot to physical standbys. */
  readonly failover?: boolean
}

export function createSlotCommand(versionNum: number, slot: string, options: CreateSlotOptions): string {
  const head = `CREATE_REPLICATION_SLOT ${quoteIdent(slot)}${options.temporary === true ? ' TEMPORARY' : ''} LOGICAL pgoutput`
  if (options.failover === true && versionNum < 170000) {
    throw new InletError('INLET-C007', 'Failover slots need PostgreSQL 17 or later.', { fix: 'Remove failover: true for this source.' })
  }
  if (versionNum < 150000) {
    // Legacy keywords: the parenthesised option list arrived in PostgreSQL 15.
    const keyword = { export: 'EXPORT_SNAPSHOT', use: 'USE_SNAPSHOT', nothing: 'NOEXPORT_SNAPSHOT' }[options.snapshot]
    return `${head} ${keyword}`
  }
  const parts = [`SNAPSHOT '${options.snapshot}'`]
  if (options.failover === true) parts.push('FAILOVER true')
  return `${head} (${parts.join(', ')})`
}

export interface StartOptions {
  readonly publications: readonly string[]
  /** Ask for large in-progress transactions to be streamed before commit (PG14+). Default on. */
  readonly streaming?: boolean
  /** Logical decoding messages (PG14+). Default on. */
  readonly messages?: boolean
  /** Binary tuple values (PG14+). Default off: text keeps one value path with COPY. */
  readonly binary?: boolean
}

/** The highest pgoutput protocol version a server supports. */
export function protocolVersionFor(versionNum: number): 1 | 2 | 3 | 4 {
  if (versionNum >= 160000) return 4
  if (versionNum >= 150000) return 3
  if (versionNum >= 140000) return 2
  return 1
}

export function startReplicationCommand(versionNum: number, slot: string, start: Lsn, options: StartOptions): string {
  const proto = protocolVersionFor(versionNum)
  const publications = options.publications.map((p) => quoteIdent(p)).join(',')
  const opts = [`"proto_version" '${proto}'`, `"publication_names" '${publications.replace(/'/g, "''")}'`]
  if (versionNum >= 140000) {
    if (options.streaming !== false) opts.push(`"streaming" 'on'`)
    if (options.messages !== false) opts.push(`"messages" 'true'`)
    if (options.binary === true) opts.push(`"binary" 'true'`)
  }
  return `START_REPLICATION SLOT ${quoteIdent(slot)} LOGICAL ${formatLsn(start)} (${opts.join(', ')})`
}
