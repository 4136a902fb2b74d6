/**
 * Reads every fact the preflight checks need from one source database. I/O only: deciding what the
 * facts mean is done by the pure checks in ./checks.
 */
import type { ConnectionSettings } from '../../postgres/connection-settings.js'
import { readTlsState, type SqlClient } from '../../postgres/connect.js'
import { readDdlTracking, readPublication, readRole, readSlots, readTables } from '../catalog.js'
import type { Platform, ServerFacts, SourceFacts, TlsFacts } from './facts.js'

const SETTINGS = [
  'wal_level', 'max_replication_slots', 'max_wal_senders', 'max_slot_wal_keep_size', 'wal_sender_timeout',
  'synchronous_standby_names', 'max_wal_size', 'logical_decoding_work_mem', 'idle_replication_slot_timeout',
  'rds.logical_replication', 'cloudsql.logical_decoding', 'cloudsql.enable_pglogical', 'ssl', 'synchronized_standby_slots',
]

export interface InspectOptions {
  readonly publication: string
  /** The role whose privileges are checked: the connecting user for doctor, the replication user for setup. */
  readonly role: string
}

export async function inspectSource(client: SqlClient, settings: ConnectionSettings, options: InspectOptions): Promise<SourceFacts> {
  const server = await readServer(client)
  const role = await readRole(client, options.role)
  // One client runs one query at a time: sequential reads, no pipelining tricks.
  const tables = await readTables(client, role.exists ? role.name : null)
  const publication = await readPublication(client, options.publication, server.versionNum)
  const slots = await readSlots(client, server.versionNum)
  const ddlTracking = await readDdlTracking(client, options.publication)
  const tls = await readTls(client, settings)
  return { server, role, tls, publication, tables, slots, ddlTracking }
}

async function readServer(client: SqlClient): Promise<ServerFacts> {
  const { rows } = await client.query<{ version_num: string; version: string; database: string; in_recovery: boolean; walsenders: string }>(
    /* sql */ `select current_setting('server_version_num') as version_num,
         split_part(current_setting('server_version'), ' ', 1) as version,
         current_database()::text as database, pg_is_in_recovery() as in_recovery,
         (select count(*) from pg_stat_replication)::text as walsenders`,
  )
  const head = rows[0]
  if (head === undefined) throw new Error('server facts query returned no row')
  const settingRows = await client.query<{ name: string; setting: string }>(
    /* sql */ `select name::text, setting::text from pg_settings
       where name = any($1::text[]) or name like 'rds.%' or name like 'cloudsql.%' or name like 'azure.%'
          or name like 'apg\\_%' or name like 'aurora%'`,
    [SETTINGS],
  )
  const settings = Object.fromEntries(settingRows.rows.map((r) => [r.name, r.setting]))
  const markers = await client.query<{ roles: string[]; aurora: boolean }>(
    /* sql */ `select array(select rolname::text from pg_roles
                     where rolname in ('rds_superuser', 'cloudsqlsuperuser', 'azure_pg_admin')) as roles,
         exists (select 1 from pg_proc where proname = 'aurora_version') as aurora`,
  )
  const { platform, evidence } = detectPlatform(settings, markers.rows[0]?.roles ?? [], markers.rows[0]?.aurora ?? false)
  return {
    versionNum: Number(head.version_num),
    version: head.version,
    database: head.database,
    inRecovery: head.in_recovery,
    settings,
    walsendersInUse: Number(head.walsenders),
    platform,
    platformEvidence: evidence,
  }
}

/** Tells the hosting platform from what the server itself exposes: settings prefixes and roles. */
export function detectPlatform(settings: Readonly<Record<string, string>>, roles: readonly string[], auroraFunction: boolean): { platform: Platform; evidence: string } {
  const names = Object.keys(settings)
  if (auroraFunction || names.some((n) => n.startsWith('apg_') || n.startsWith('aurora'))) {
    return { platform: 'aurora', evidence: auroraFunction ? 'function aurora_version() exists' : 'aurora settings present' }
  }
  if (names.some((n) => n.startsWith('rds.')) || roles.includes('rds_superuser')) {
    return { platform: 'rds', evidence: names.some((n) => n.startsWith('rds.')) ? 'rds.* settings present' : 'role rds_superuser exists' }
  }
  if (names.some((n) => n.startsWith('cloudsql.')) || roles.includes('cloudsqlsuperuser')) {
    return { platform: 'cloudsql', evidence: names.some((n) => n.startsWith('cloudsql.')) ? 'cloudsql.* settings present' : 'role cloudsqlsuperuser exists' }
  }
  if (names.some((n) => n.startsWith('azure.')) || roles.includes('azure_pg_admin')) {
    return { platform: 'azure', evidence: names.some((n) => n.startsWith('azure.')) ? 'azure.* settings present' : 'role azure_pg_admin exists' }
  }
  return { platform: 'self-managed', evidence: 'no rds.*, cloudsql.* or azure.* settings or roles' }
}

async function readTls(client: SqlClient, settings: ConnectionSettings): Promise<TlsFacts> {
  const state = await readTlsState(client, settings)
  const local = settings.host.startsWith('/') || settings.host === 'localhost' || /^127\./.test(settings.host) || settings.host === '::1'
  return { ...state, sslmode: settings.sslmode, local }
}
