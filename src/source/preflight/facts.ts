/**
 * What `inspect` reads from a source database. Checks are pure functions of these facts, so they
 * can be tested without a server and reused by `inlet setup` to plan its SQL.
 */

export type Platform = 'self-managed' | 'rds' | 'aurora' | 'cloudsql' | 'azure'

export interface ServerFacts {
  readonly versionNum: number
  /** e.g. "18.4" */
  readonly version: string
  readonly database: string
  readonly inRecovery: boolean
  /** Relevant settings by name (pg_settings.setting, with units as PostgreSQL reports them). */
  readonly settings: Readonly<Record<string, string>>
  readonly walsendersInUse: number
  readonly platform: Platform
  /** Why that platform was detected, for the report. */
  readonly platformEvidence: string
}

export interface RoleFacts {
  readonly name: string
  readonly exists: boolean
  readonly superuser: boolean
  readonly replication: boolean
  readonly bypassRls: boolean
  readonly canConnect: boolean
  /** Memberships among the roles that matter here (rds_replication, pg_read_all_data, ...). */
  readonly memberOf: readonly string[]
}

export interface TableFacts {
  readonly oid: number
  readonly schema: string
  readonly name: string
  /** r = table, p = partitioned table */
  readonly kind: 'r' | 'p'
  /** For a partition: its top-level partitioned table. */
  readonly root: { readonly schema: string; readonly name: string } | undefined
  /** d = default, n = nothing, f = full, i = index */
  readonly replicaIdentity: 'd' | 'n' | 'f' | 'i'
  readonly primaryKey: readonly string[]
  readonly identityIndex: string | undefined
  /** The key that identifies rows (primary key, or the identity index) is DEFERRABLE. */
  readonly keyDeferrable?: boolean
  /** Columns whose values can be stored out of line (TOAST), from attlen = -1 and attstorage <> 'p'. */
  readonly toastableColumns: readonly string[]
  /** Generated columns (GENERATED ALWAYS AS ... STORED, or VIRTUAL on 18+). */
  readonly generatedColumns?: readonly string[]
  readonly rowSecurity: boolean
  /** Columns a publication without a column list sends (not dropped, not generated). */
  readonly publishableColumns: number
  readonly owner: string
  /** Null when the role does not exist yet. */
  readonly canSelect: boolean | null
  readonly schemaUsage: boolean | null
}

export interface PublicationMember {
  readonly schema: string
  readonly table: string
  /** PG15+: publication column list, when the table has one. */
  readonly columns: readonly string[] | undefined
  /** PG15+: row filter expression, when the table has one. */
  readonly rowFilter: string | undefined
}

export interface PublicationFacts {
  readonly name: string
  readonly owner: string
  readonly allTables: boolean
  readonly insert: boolean
  readonly update: boolean
  readonly delete: boolean
  readonly truncate: boolean
  readonly viaRoot: boolean
  /** PostgreSQL 18+: publish_generated_columns = stored (their values are sent). */
  readonly generatedColumns?: boolean
  readonly members: readonly PublicationMember[]
}

export interface SlotFacts {
  readonly name: string
  readonly plugin: string | null
  readonly slotType: 'logical' | 'physical'
  readonly database: string | null
  readonly temporary: boolean
  readonly active: boolean
  readonly activePid: number | null
  /** application_name of the process holding the slot. */
  readonly activeApplication: string | null
  readonly restartLsn: string | null
  readonly confirmedFlushLsn: string | null
  readonly walStatus: string | null
  /** Bytes; null when max_slot_wal_keep_size is unlimited. */
  readonly safeWalSize: number | null
  /** WAL the slot keeps from being removed (current LSN − restart_lsn). */
  readonly retainedBytes: number | null
  readonly twoPhase: boolean
  readonly failover: boolean
  /** PG17+ */
  readonly invalidationReason: string | null
}

export interface DdlTrackingFacts {
  readonly installedVersion: number | undefined
  readonly auditTableExists: boolean
  readonly triggers: ReadonlyArray<{ readonly name: string; readonly event: string; readonly enabled: string }>
  readonly auditTableInPublication: boolean
}

export interface TlsFacts {
  readonly encrypted: boolean
  readonly certificateVerified: boolean
  readonly hostnameVerified: boolean
  readonly sslmode: string
  /** Loopback or Unix socket: plain text is not a risk there. */
  readonly local: boolean
}

export interface SourceFacts {
  readonly server: ServerFacts
  readonly role: RoleFacts
  readonly tls: TlsFacts
  readonly publication: PublicationFacts | undefined
  /** Every permanent user table and partitioned table (partitions included) in the database. */
  readonly tables: readonly TableFacts[]
  /** Every replication slot on the server (names are server-wide). */
  readonly slots: readonly SlotFacts[]
  readonly ddlTracking: DdlTrackingFacts
}
