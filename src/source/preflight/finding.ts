/**
 * A doctor finding: what a check concluded, with a stable code, a message and the exact fix.
 * A finding is not an error: an error means a check could not run at all.
 */

export type FindingLevel = 'ok' | 'info' | 'warn' | 'fail'

export type CheckName =
  | 'version'
  | 'columns'
  | 'wal_level'
  | 'role'
  | 'publication'
  | 'replica_identity'
  | 'slot'
  | 'capacity'
  | 'ddl_tracking'
  | 'tls'
  | 'failover'

export interface Finding {
  readonly level: FindingLevel
  readonly code: FindingCode
  readonly check: CheckName
  readonly message: string
  /** SQL or instructions that fix it, tailored to the detected platform. */
  readonly fix?: string
  readonly details?: Readonly<Record<string, unknown>>
}

/** Every finding code, with what it means. `docs/doctor.md` is generated from this list. */
export const FINDING_CODES = {
  SERVER_VERSION_OK: 'The server runs PostgreSQL 13 or later; the message lists the Inlet features this version enables.',
  SERVER_VERSION_UNSUPPORTED: 'PostgreSQL older than 13: logical replication lacks what Inlet needs (wal_status, safe_wal_size, publish_via_partition_root). Upgrade the server.',
  SERVER_IS_STANDBY: 'The connection reached a standby (pg_is_in_recovery). Slots there cannot export a snapshot; connect to the primary.',
  WAL_LEVEL_LOGICAL: 'wal_level is logical.',
  WAL_LEVEL_NOT_LOGICAL: 'wal_level is not logical, so no logical replication slot can be created or read. The fix needs a server restart; its form depends on the platform.',
  ROLE_REPLICATION_OK: 'The role may use replication (REPLICATION attribute, rds_replication membership, or superuser).',
  ROLE_NO_REPLICATION: 'The role may not create or read replication slots.',
  ROLE_NO_CONNECT: 'The role lacks CONNECT on the database.',
  ROLE_NO_SCHEMA_USAGE: 'The role lacks USAGE on schemas of selected tables.',
  ROLE_NO_SELECT: 'The role cannot SELECT some selected tables, so the snapshot would fail.',
  ROLE_PRIVILEGES_OK: 'The role can connect and read every selected table.',
  ROLE_IS_SUPERUSER: 'The role is a superuser; Inlet needs far less. Use a dedicated replication role (inlet setup creates one).',
  ROLE_ROW_SECURITY: 'Row-level security is enabled on selected tables and the role does not bypass it: the snapshot would silently miss rows that the stream later updates.',
  ROLE_MISSING: 'The replication role does not exist yet.',
  PUBLICATION_OK: 'The publication exists in this database, covers every selected table and publishes all four operations.',
  PUBLICATION_MISSING: 'The publication does not exist in this database.',
  PUBLICATION_MISSING_TABLES: 'Selected tables are not in the publication, so none of their changes would be streamed.',
  PUBLICATION_ACTIONS: 'The publication does not publish insert, update and delete (and truncate), so those changes would be lost.',
  PUBLICATION_PARTITION_ROOT: 'Partitioned tables are selected and publish_via_partition_root is on: a single partition\'s TRUNCATE is not published and changes do not name their partition; turn it off.',
  PUBLICATION_ROW_FILTER: 'Selected tables have a row filter in the publication (PG15+); the snapshot applies the same filter.',
  PUBLICATION_COLUMN_LIST: 'Selected tables have a column list in the publication (PG15+); only those columns are replicated.',
  TABLES_NOT_FOUND: 'A table named in the selection does not exist.',
  NO_TABLES_SELECTED: 'No table is selected: the selection matches nothing and the publication is empty or missing.',
  REPLICA_IDENTITY_OK: 'Tables whose replica identity lets every change be applied exactly.',
  REPLICA_IDENTITY_TOAST: 'Tables with a primary key and TOAST-able columns under REPLICA IDENTITY DEFAULT. Inlet keeps unchanged TOAST values itself, so FULL is not needed.',
  REPLICA_IDENTITY_FULL_UNNEEDED: 'Tables with a primary key under REPLICA IDENTITY FULL: correct, but every update and delete writes the whole old row to WAL.',
  REPLICA_IDENTITY_MISSING: 'Tables without a usable replica identity (no primary key under DEFAULT, or NOTHING): PostgreSQL rejects their UPDATE and DELETE while they are published. Also tables with a DEFERRABLE key under DEFAULT or USING INDEX: a statement may move keys onto keys it vacates, which only the whole old row (FULL) tells apart.',
  GENERATED_COLUMNS_NOT_PUBLISHED: 'Selected tables have generated columns whose values the stream does not carry: before PostgreSQL 18 never, on 18 unless the publication has publish_generated_columns = stored. They are absent from the destination.',
  GENERATED_COLUMNS_PUBLISHED: 'Stored generated columns of selected tables are published (PostgreSQL 18, publish_generated_columns = stored) and land in the destination.',
  SLOT_OK: 'The slot exists, is logical, uses pgoutput, belongs to this database and is healthy.',
  SLOT_MISSING: 'The replication slot does not exist yet.',
  SLOT_WRONG_PLUGIN: 'A slot of that name uses another output plugin (or is physical).',
  SLOT_OTHER_DATABASE: 'A slot of that name belongs to another database (slot names are server-wide).',
  SLOT_ACTIVE: 'The slot is in use by a process (PID and application name given).',
  SLOT_LOST: 'The slot was invalidated: the WAL it needed is gone. It must be dropped and recreated, and every table re-snapshotted.',
  SLOT_UNRESERVED: 'The slot is about to lose WAL it needs (wal_status = unreserved). Start the consumer now.',
  SLOT_TWO_PHASE: 'The slot was created with two-phase decoding, which Inlet does not use.',
  SLOT_TEMPORARY: 'The slot is temporary and disappears with its session.',
  FAILOVER_UNSUPPORTED: 'failover: true is configured but the server is older than PostgreSQL 17, which has no failover slots.',
  SLOT_NOT_FAILOVER: 'failover: true is configured but the existing slot is not a failover slot (inlet run alters it).',
  STANDBY_SLOTS_UNSET: 'failover: true is configured but synchronized_standby_slots is empty, so the slot may get ahead of every standby.',
  STANDBY_SLOTS_MISSING: 'synchronized_standby_slots names slots that are not physical slots on the primary; logical walsenders wait for them.',
  FAILOVER_OK: 'Failover slots are configured and synchronized_standby_slots names existing physical slots.',
  WAL_KEEP_SIZE_UNLIMITED: 'max_slot_wal_keep_size is -1: a stopped consumer lets WAL grow until the disk is full.',
  WAL_KEEP_SIZE_OK: 'max_slot_wal_keep_size bounds the WAL a slot can retain.',
  SLOTS_EXHAUSTED: 'max_replication_slots leaves no room for the slots this config needs.',
  SLOTS_OK: 'max_replication_slots leaves room for the configured slots.',
  WAL_SENDERS_LOW: 'max_wal_senders is below the replication connections needed, or leaves no headroom.',
  WAL_SENDERS_OK: 'max_wal_senders leaves headroom.',
  SYNC_STANDBY_MATCH: 'synchronous_standby_names matches the application name Inlet connects with, so commits on the primary would wait for Inlet.',
  DDL_TRACKING_OK: 'The DDL tracking script is installed, its event triggers fire always, and its audit table is published.',
  DDL_TRACKING_NOT_INSTALLED: 'The optional DDL tracking script is not installed; schema changes are detected from Relation messages only.',
  DDL_TRACKING_OUTDATED: 'An older version of the DDL tracking script is installed.',
  DDL_TRACKING_TRIGGERS: 'DDL tracking event triggers are missing, disabled, or not ENABLE ALWAYS (so DDL under session_replication_role = replica is missed).',
  DDL_TRACKING_NOT_PUBLISHED: 'The DDL audit table is not in the publication, so schema changes never reach the stream.',
  TLS_VERIFIED: 'The connection is encrypted and the server certificate was verified.',
  TLS_UNVERIFIED: 'The connection is encrypted but the server certificate was not verified (sslmode below verify-full).',
  TLS_OFF: 'The connection is not encrypted.',
} as const

export type FindingCode = keyof typeof FINDING_CODES

export function worstLevel(findings: readonly Finding[]): FindingLevel {
  const order: FindingLevel[] = ['ok', 'info', 'warn', 'fail']
  return findings.reduce<FindingLevel>((worst, f) => (order.indexOf(f.level) > order.indexOf(worst) ? f.level : worst), 'ok')
}
