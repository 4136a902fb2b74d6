/**
 * Catalog queries on a source database, version-gated by server_version_num. Each returns plain
 * facts; deciding what they mean is the job of the preflight checks.
 */
import type { SqlClient } from '../postgres/connect.js'
import type {
  DdlTrackingFacts,
  PublicationFacts,
  PublicationMember,
  RoleFacts,
  SlotFacts,
  TableFacts,
} from './preflight/facts.js'
import { DDL_AUDIT_TABLE, DDL_SCHEMA, DDL_TRIGGERS } from './ddl-tracking.js'

/** Roles whose membership changes what a role may do, on the platforms we know. */
const INTERESTING_ROLES = ['rds_replication', 'rds_superuser', 'azure_pg_admin', 'cloudsqlsuperuser', 'pg_read_all_data', 'pg_monitor']

export async function serverVersionNum(client: SqlClient): Promise<number> {
  const { rows } = await client.query<{ v: string }>(`select current_setting('server_version_num') as v`)
  return Number(rows[0]?.v)
}

export async function readRole(client: SqlClient, name: string): Promise<RoleFacts> {
  const { rows } = await client.query<{
    rolsuper: boolean
    rolreplication: boolean
    rolbypassrls: boolean
    can_connect: boolean
    member_of: string[]
  }>(
    /* sql */ `select r.rolsuper, r.rolreplication, r.rolbypassrls,
         has_database_privilege(r.oid, current_database(), 'CONNECT') as can_connect,
         array(select m.rolname::text from pg_roles m
               where m.rolname = any($2::text[]) and pg_has_role(r.oid, m.oid, 'MEMBER')) as member_of
       from pg_roles r where r.rolname = $1`,
    [name, INTERESTING_ROLES],
  )
  const row = rows[0]
  if (row === undefined) {
    return { name, exists: false, superuser: false, replication: false, bypassRls: false, canConnect: false, memberOf: [] }
  }
  return {
    name,
    exists: true,
    superuser: row.rolsuper,
    replication: row.rolreplication,
    bypassRls: row.rolbypassrls,
    canConnect: row.can_connect,
    memberOf: row.member_of,
  }
}

/** Every permanent table and partitioned table outside system schemas, with what checks need. */
export async function readTables(client: SqlClient, role: string | null): Promise<TableFacts[]> {
  const { rows } = await client.query<{
    oid: string
    schema: string
    name: string
    relkind: 'r' | 'p'
    root_schema: string | null
    root_name: string | null
    replident: 'd' | 'n' | 'f' | 'i'
    pk: string[]
    identity_index: string | null
    key_deferrable: boolean
    toastable: string[]
    generated: string[]
    row_security: boolean
    publishable: number
    owner: string
    can_select: boolean | null
    schema_usage: boolean | null
  }>(
    /* sql */ `select c.oid::int8::text as oid, n.nspname::text as schema, c.relname::text as name, c.relkind::text as relkind,
         rn.nspname::text as root_schema, rc.relname::text as root_name,
         c.relreplident::text as replident,
         coalesce((select array_agg(a.attname::text order by array_position(i.indkey::int2[], a.attnum))
                   from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)
                   where i.indrelid = c.oid and i.indisprimary), '{}') as pk,
         (select ic.relname::text from pg_index i join pg_class ic on ic.oid = i.indexrelid
           where i.indrelid = c.oid and i.indisreplident) as identity_index,
         exists (select 1 from pg_index i where i.indrelid = c.oid and not i.indimmediate
                   and (i.indisreplident or (i.indisprimary and c.relreplident <> 'i'))) as key_deferrable,
         coalesce((select array_agg(a.attname::text order by a.attnum) from pg_attribute a
                   where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
                     and a.attlen = -1 and a.attstorage <> 'p'), '{}') as toastable,
         coalesce((select array_agg(a.attname::text order by a.attnum) from pg_attribute a
                   where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped and a.attgenerated <> ''), '{}') as generated,
         c.relrowsecurity as row_security,
         (select count(*)::int from pg_attribute a where a.attrelid = c.oid and a.attnum > 0
            and not a.attisdropped and a.attgenerated = '') as publishable,
         pg_get_userbyid(c.relowner)::text as owner,
         has_table_privilege($1::text, c.oid, 'SELECT') as can_select,
         has_schema_privilege($1::text, n.oid, 'USAGE') as schema_usage
       from pg_class c
       join pg_namespace n on n.oid = c.relnamespace
       left join pg_class rc on c.relispartition and rc.oid = pg_partition_root(c.oid)
       left join pg_namespace rn on rn.oid = rc.relnamespace
       where c.relkind in ('r', 'p') and c.relpersistence = 'p'
         and n.nspname not in ('pg_catalog', 'information_schema')
         and n.nspname not like 'pg\\_toast%' and n.nspname not like 'pg\\_temp%'
       order by n.nspname, c.relname`,
    [role],
  )
  return rows.map((r) => ({
    oid: Number(r.oid),
    schema: r.schema,
    name: r.name,
    kind: r.relkind,
    root: r.root_schema !== null && r.root_name !== null ? { schema: r.root_schema, name: r.root_name } : undefined,
    replicaIdentity: r.replident,
    primaryKey: r.pk,
    identityIndex: r.identity_index ?? undefined,
    keyDeferrable: r.key_deferrable,
    toastableColumns: r.toastable,
    generatedColumns: r.generated,
    rowSecurity: r.row_security,
    publishableColumns: r.publishable,
    owner: r.owner,
    canSelect: r.can_select,
    schemaUsage: r.schema_usage,
  }))
}

export async function readPublication(client: SqlClient, name: string, versionNum: number): Promise<PublicationFacts | undefined> {
  const { rows } = await client.query<{
    owner: string
    puballtables: boolean
    pubinsert: boolean
    pubupdate: boolean
    pubdelete: boolean
    pubtruncate: boolean
    pubviaroot: boolean
    pubgencols: string | null
  }>(
    /* sql */ `select pg_get_userbyid(pubowner)::text as owner, puballtables, pubinsert, pubupdate, pubdelete, pubtruncate, pubviaroot,
         ${versionNum >= 180000 ? 'pubgencols::text' : 'null::text'} as pubgencols
       from pg_publication where pubname = $1`,
    [name],
  )
  const row = rows[0]
  if (row === undefined) return undefined
  const extra = versionNum >= 150000 ? ', attnames::text[] as columns, rowfilter' : ', null::text[] as columns, null::text as rowfilter'
  const members = await client.query<{ schemaname: string; tablename: string; columns: string[] | null; rowfilter: string | null }>(
    `select schemaname::text, tablename::text${extra} from pg_publication_tables where pubname = $1`,
    [name],
  )
  return {
    name,
    owner: row.owner,
    allTables: row.puballtables,
    insert: row.pubinsert,
    update: row.pubupdate,
    delete: row.pubdelete,
    truncate: row.pubtruncate,
    viaRoot: row.pubviaroot,
    generatedColumns: row.pubgencols === 's',
    members: members.rows.map(
      (m): PublicationMember => ({
        schema: m.schemaname,
        table: m.tablename,
        columns: m.columns ?? undefined,
        rowFilter: m.rowfilter ?? undefined,
      }),
    ),
  }
}

/** Every slot on the server, with WAL retention measured against the current WAL position. */
export async function readSlots(client: SqlClient, versionNum: number): Promise<SlotFacts[]> {
  const twoPhase = versionNum >= 140000 ? 's.two_phase' : 'false'
  const failover = versionNum >= 170000 ? 's.failover' : 'false'
  const invalidation = versionNum >= 170000 ? 's.invalidation_reason::text' : 'null::text'
  const current = `case when pg_is_in_recovery() then pg_last_wal_receive_lsn() else pg_current_wal_lsn() end`
  const { rows } = await client.query<{
    slot_name: string
    plugin: string | null
    slot_type: 'logical' | 'physical'
    database: string | null
    temporary: boolean
    active: boolean
    active_pid: number | null
    application_name: string | null
    restart_lsn: string | null
    confirmed_flush_lsn: string | null
    wal_status: string | null
    safe_wal_size: string | null
    retained: string | null
    two_phase: boolean
    failover: boolean
    invalidation_reason: string | null
  }>(
    /* sql */ `select s.slot_name::text, s.plugin::text, s.slot_type::text, s.database::text, s.temporary, s.active, s.active_pid,
         a.application_name::text, s.restart_lsn::text, s.confirmed_flush_lsn::text, s.wal_status::text,
         s.safe_wal_size::text, pg_wal_lsn_diff(${current}, s.restart_lsn)::int8::text as retained,
         ${twoPhase} as two_phase, ${failover} as failover, ${invalidation} as invalidation_reason
       from pg_replication_slots s left join pg_stat_activity a on a.pid = s.active_pid
       order by s.slot_name`,
  )
  return rows.map((r) => ({
    name: r.slot_name,
    plugin: r.plugin,
    slotType: r.slot_type,
    database: r.database,
    temporary: r.temporary,
    active: r.active,
    activePid: r.active_pid,
    activeApplication: r.application_name,
    restartLsn: r.restart_lsn,
    confirmedFlushLsn: r.confirmed_flush_lsn,
    walStatus: r.wal_status,
    safeWalSize: r.safe_wal_size === null ? null : Number(r.safe_wal_size),
    retainedBytes: r.retained === null ? null : Number(r.retained),
    twoPhase: r.two_phase,
    failover: r.failover,
    invalidationReason: r.invalidation_reason,
  }))
}

export async function readDdlTracking(client: SqlClient, publication: string): Promise<DdlTrackingFacts> {
  // The version is read from the function's body: the replication role has no USAGE on the schema.
  const { rows } = await client.query<{ version_src: string | null; has_table: boolean; in_pub: boolean }>(
    /* sql */ `select
         (select p.prosrc from pg_proc p join pg_namespace n on n.oid = p.pronamespace
           where n.nspname = $1 and p.proname = 'ddl_tracking_version') as version_src,
         exists (select 1 from pg_class c join pg_namespace n on n.oid = c.relnamespace
                 where n.nspname = $1 and c.relname = $2) as has_table,
         exists (select 1 from pg_publication_tables where pubname = $3 and schemaname = $1 and tablename = $2) as in_pub`,
    [DDL_SCHEMA, DDL_AUDIT_TABLE, publication],
  )
  const row = rows[0]
  const match = /select\s+(\d+)/i.exec(row?.version_src ?? '')
  const installedVersion = match?.[1] === undefined ? undefined : Number(match[1])
  const triggers = await client.query<{ name: string; event: string; enabled: string }>(
    /* sql */ `select evtname::text as name, evtevent::text as event, evtenabled::text as enabled
       from pg_event_trigger where evtname = any($1::text[]) order by evtname`,
    [DDL_TRIGGERS.map((t) => t.name)],
  )
  return {
    installedVersion,
    auditTableExists: row?.has_table ?? false,
    triggers: triggers.rows,
    auditTableInPublication: row?.in_pub ?? false,
  }
}
