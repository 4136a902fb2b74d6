/**
 * The pure checks on hand-built facts: the paths a local test server cannot show (managed
 * platforms, old versions, standbys, lost slots) and the fine print of each verdict.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { resolveConfig } from '../src/config/load.js'
import { evaluateSource } from '../src/source/preflight/doctor.js'
import type { SlotFacts, SourceFacts, TableFacts } from '../src/source/preflight/facts.js'
import type { Finding, FindingCode } from '../src/source/preflight/finding.js'
import { detectPlatform } from '../src/source/preflight/inspect.js'
import { standbyNames } from '../src/source/preflight/checks/server.js'
import { identityVerdict } from '../src/source/preflight/checks/replica-identity.js'

function table(over: Partial<TableFacts> = {}): TableFacts {
  return {
    oid: 1, schema: 'public', name: 'orders', kind: 'r', root: undefined, replicaIdentity: 'd', primaryKey: ['id'], identityIndex: undefined,
    toastableColumns: [], rowSecurity: false, publishableColumns: 2, owner: 'app', canSelect: true, schemaUsage: true, ...over,
  }
}

function slot(over: Partial<SlotFacts> = {}): SlotFacts {
  return {
    name: 'inlet_shop', plugin: 'pgoutput', slotType: 'logical', database: 'shop', temporary: false, active: false, activePid: null, activeApplication: null,
    restartLsn: '0/1000', confirmedFlushLsn: '0/2000', walStatus: 'reserved', safeWalSize: null, retainedBytes: 1024, twoPhase: false, failover: false, invalidationReason: null, ...over,
  }
}

function facts(over: { server?: Partial<SourceFacts['server']>; settings?: Record<string, string> } & Partial<Omit<SourceFacts, 'server'>> = {}): SourceFacts {
  const { server, settings, ...rest } = over
  return {
    server: {
      versionNum: 180004, version: '18.4', database: 'shop', inRecovery: false, walsendersInUse: 0, platform: 'self-managed', platformEvidence: 'none',
      settings: { wal_level: 'logical', max_replication_slots: '10', max_wal_senders: '10', max_slot_wal_keep_size: '-1', max_wal_size: '1024', synchronous_standby_names: '', ...settings },
      ...server,
    },
    role: { name: 'inlet', exists: true, superuser: false, replication: true, bypassRls: false, canConnect: true, memberOf: [] },
    tls: { encrypted: true, certificateVerified: true, hostnameVerified: true, sslmode: 'verify-full', local: false },
    publication: { name: 'inlet_pub', owner: 'admin', allTables: false, insert: true, update: true, delete: true, truncate: true, viaRoot: false, members: [{ schema: 'public', table: 'orders', columns: undefined, rowFilter: undefined }] },
    tables: [table()],
    slots: [slot()],
    ddlTracking: { installedVersion: undefined, auditTableExists: false, triggers: [], auditTableInPublication: false },
    ...rest,
  }
}

const config = resolveConfig({}, { source: ['postgres://inlet@db:5432/shop'] }, {})
const run = (f: SourceFacts): Finding[] => evaluateSource(f, config.sources[0]!, config)
const get = (findings: Finding[], code: FindingCode): Finding => {
  const found = findings.find((f) => f.code === code)
  assert.ok(found !== undefined, `${code} not in ${findings.map((f) => f.code).join(' ')}`)
  return found
}

describe('doctor checks (pure)', () => {
  it('a ready source has no failure', () => {
    const findings = run(facts())
    assert.deepEqual(findings.filter((f) => f.level === 'fail'), [])
    get(findings, 'SLOT_OK')
    get(findings, 'TLS_VERIFIED')
  })

  it('tailors the wal_level fix to each platform', () => {
    const fix = (platform: SourceFacts['server']['platform']) => get(run(facts({ server: { platform }, settings: { wal_level: 'replica' } })), 'WAL_LEVEL_NOT_LOGICAL').fix ?? ''
    assert.match(fix('self-managed'), /^ALTER SYSTEM SET wal_level = 'logical';\n-- then restart/)
    assert.match(fix('rds'), /rds\.logical_replication = 1 in the instance's DB parameter group, then reboot/)
    assert.match(fix('rds'), /aws rds modify-db-parameter-group .*ApplyMethod=pending-reboot/)
    assert.match(fix('aurora'), /DB cluster parameter group/)
    assert.match(fix('cloudsql'), /gcloud sql instances patch INSTANCE --database-flags=cloudsql\.logical_decoding=on/)
    assert.match(fix('azure'), /az postgres flexible-server parameter set .*--name wal_level --value logical/)
    assert.match(fix('azure'), /az postgres flexible-server restart/)
  })

  it('detects the platform from settings and roles', () => {
    assert.equal(detectPlatform({ 'rds.logical_replication': 'on' }, [], false).platform, 'rds')
    assert.equal(detectPlatform({}, ['rds_superuser'], true).platform, 'aurora')
    assert.equal(detectPlatform({ 'cloudsql.logical_decoding': 'on' }, [], false).platform, 'cloudsql')
    assert.equal(detectPlatform({}, ['azure_pg_admin'], false).platform, 'azure')
    assert.equal(detectPlatform({ wal_level: 'logical' }, [], false).platform, 'self-managed')
  })

  it('fails below PostgreSQL 13 and on a standby', () => {
    get(run(facts({ server: { versionNum: 120015, version: '12.15' } })), 'SERVER_VERSION_UNSUPPORTED')
    assert.equal(get(run(facts({ server: { inRecovery: true } })), 'SERVER_IS_STANDBY').level, 'fail')
  })

  it('judges replica identity as the setup document does, with TOAST handled by Inlet', () => {
    assert.equal(identityVerdict(table()).verdict, 'ok')
    assert.equal(identityVerdict(table({ toastableColumns: ['body'] })).verdict, 'toast')
    assert.equal(identityVerdict(table({ primaryKey: [] })).verdict, 'missing')
    assert.equal(identityVerdict(table({ replicaIdentity: 'n' })).verdict, 'missing')
    assert.equal(identityVerdict(table({ replicaIdentity: 'f' })).verdict, 'full-unneeded')
    assert.equal(identityVerdict(table({ replicaIdentity: 'f', primaryKey: [] })).verdict, 'ok')
    assert.equal(identityVerdict(table({ replicaIdentity: 'i', identityIndex: 'orders_code_key', primaryKey: [] })).verdict, 'ok')
    assert.equal(identityVerdict(table({ replicaIdentity: 'i', identityIndex: undefined })).verdict, 'missing')
    // An insert-only publication can live with a missing identity: warn, do not fail.
    const insertOnly = facts({ tables: [table({ primaryKey: [] })] })
    const publication = { ...insertOnly.publication!, update: false, delete: false }
    assert.equal(get(run({ ...insertOnly, publication }), 'REPLICA_IDENTITY_MISSING').level, 'warn')
  })

  it('judges a partitioned table by its leaf partitions', () => {
    const root = table({ name: 'events', kind: 'p', oid: 2 })
    const leaf = table({ name: 'events_2026', oid: 3, root: { schema: 'public', name: 'events' }, primaryKey: [] })
    const f = facts({ tables: [root, leaf], publication: { ...facts().publication!, members: [{ schema: 'public', table: 'events', columns: undefined, rowFilter: undefined }] } })
    assert.deepEqual(get(run(f), 'REPLICA_IDENTITY_MISSING').details?.tables, ['public.events_2026'])
    get(run(f), 'PUBLICATION_OK')
  })

  it('reports slot health: lost, invalidated, unreserved, two-phase, temporary, held by another process', () => {
    assert.equal(get(run(facts({ slots: [slot({ walStatus: 'lost' })] })), 'SLOT_LOST').level, 'fail')
    assert.match(get(run(facts({ slots: [slot({ invalidationReason: 'idle_timeout' })] })), 'SLOT_LOST').message, /idle_timeout/)
    assert.equal(get(run(facts({ slots: [slot({ walStatus: 'unreserved', safeWalSize: -5 })] })), 'SLOT_UNRESERVED').level, 'warn')
    assert.equal(get(run(facts({ slots: [slot({ twoPhase: true })] })), 'SLOT_TWO_PHASE').level, 'warn')
    assert.equal(get(run(facts({ slots: [slot({ temporary: true })] })), 'SLOT_TEMPORARY').level, 'fail')
    assert.equal(get(run(facts({ slots: [slot({ active: true, activePid: 42, activeApplication: 'inlet' })] })), 'SLOT_ACTIVE').level, 'info')
    assert.equal(get(run(facts({ slots: [slot({ active: true, activePid: 42, activeApplication: 'debezium' })] })), 'SLOT_ACTIVE').level, 'warn')
  })

  it('publication actions: a missing delete fails, a missing truncate warns', () => {
    const base = facts().publication!
    assert.equal(get(run(facts({ publication: { ...base, delete: false } })), 'PUBLICATION_ACTIONS').level, 'fail')
    assert.equal(get(run(facts({ publication: { ...base, truncate: false } })), 'PUBLICATION_ACTIONS').level, 'warn')
  })

  it('reports row filters and column lists', () => {
    const base = facts().publication!
    const findings = run(facts({ server: { versionNum: 150000 }, publication: { ...base, members: [{ schema: 'public', table: 'orders', columns: ['id'], rowFilter: '(id > 10)' }] } }))
    assert.match(get(findings, 'PUBLICATION_ROW_FILTER').message, /public\.orders WHERE \(id > 10\)/)
    assert.match(get(findings, 'PUBLICATION_COLUMN_LIST').message, /public\.orders \(id\)/)
  })

  it('warns when synchronous_standby_names would make the primary wait for Inlet', () => {
    assert.deepEqual(standbyNames('FIRST 2 (s1, "inlet", s3)'), ['s1', 'inlet', 's3'])
    assert.deepEqual(standbyNames('ANY 1 (*)'), ['*'])
    get(run(facts({ settings: { synchronous_standby_names: '*' } })), 'SYNC_STANDBY_MATCH')
    assert.ok(!run(facts({ settings: { synchronous_standby_names: 'replica1' } })).some((f) => f.code === 'SYNC_STANDBY_MATCH'))
  })

  it('capacity: no free slot fails; a tight max_wal_senders warns', () => {
    assert.equal(get(run(facts({ slots: [], settings: { max_replication_slots: '0' } })), 'SLOTS_EXHAUSTED').level, 'fail')
    assert.equal(get(run(facts({ settings: { max_wal_senders: '2' } })), 'WAL_SENDERS_LOW').level, 'warn')
    assert.equal(get(run(facts({ settings: { max_wal_senders: '0' } })), 'WAL_SENDERS_LOW').level, 'fail')
  })

  it('DDL tracking: optional when absent; broken when triggers are not ENABLE ALWAYS or the table is unpublished', () => {
    assert.equal(get(run(facts()), 'DDL_TRACKING_NOT_INSTALLED').level, 'info')
    const triggers = [
      { name: 'inlet_ddl_command_end', event: 'ddl_command_end', enabled: 'O' },
      { name: 'inlet_sql_drop', event: 'sql_drop', enabled: 'A' },
    ]
    const findings = run(facts({ ddlTracking: { installedVersion: 1, auditTableExists: true, triggers, auditTableInPublication: false } }))
    assert.match(get(findings, 'DDL_TRACKING_TRIGGERS').message, /inlet_ddl_command_end is not ENABLE ALWAYS.*inlet_table_rewrite is missing/)
    assert.equal(get(findings, 'DDL_TRACKING_NOT_PUBLISHED').fix, 'ALTER PUBLICATION "inlet_pub" ADD TABLE "inlet"."inlet_ddl_audit";')
  })

  it('TLS: unverified and clear-text connections to remote hosts warn', () => {
    assert.equal(get(run(facts({ tls: { encrypted: true, certificateVerified: false, hostnameVerified: false, sslmode: 'require', local: false } })), 'TLS_UNVERIFIED').level, 'warn')
    assert.equal(get(run(facts({ tls: { encrypted: false, certificateVerified: false, hostnameVerified: false, sslmode: 'prefer', local: false } })), 'TLS_OFF').level, 'warn')
  })

  it('row-level security without BYPASSRLS fails: the snapshot would miss rows', () => {
    assert.equal(get(run(facts({ tables: [table({ rowSecurity: true })] })), 'ROLE_ROW_SECURITY').level, 'fail')
  })
})
