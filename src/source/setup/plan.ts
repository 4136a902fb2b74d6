/**
 * `inlet setup` as data: from the facts of a source (read through the admin connection, judged
 * for the replication user) to the ordered steps of the source-setup document, each already done,
 * to do, or for a person to do (settings that need a restart are never applied silently).
 * Pure, so the same plan prints as SQL or is applied, and a second run finds nothing to do.
 */
import type { ResolvedSource } from '../../config/load.js'
import { InletError } from '../../errors/inlet-error.js'
import { displayName, qualifiedName, quoteIdent, quoteLiteral } from '../../postgres/sql-text.js'
import { DDL_AUDIT_TABLE, DDL_SCHEMA, DDL_TRACKING_VERSION, DDL_TRIGGERS } from '../ddl-tracking.js'
import type { CheckContext } from '../preflight/check-context.js'
import { capacityCheck, walLevelCheck } from '../preflight/checks/server.js'
import { identityVerdict } from '../preflight/checks/replica-identity.js'
import type { SourceFacts, TableFacts } from '../preflight/facts.js'
import { PLATFORM_NAMES } from '../preflight/platform-fix.js'
import { key, partitionsOf, publishedTopLevel, selectTables } from '../selection.js'

/** Stands for the SCRAM verifier in a CREATE ROLE statement until apply fills it in. */
export const PASSWORD_TOKEN = '\u0000password\u0000'

export type StepState = 'todo' | 'done' | 'manual'

export interface SetupStep {
  readonly title: string
  readonly state: StepState
  /** SQL run by apply, in order, each in autocommit on the admin connection. */
  readonly statements: readonly string[]
  /** What to print instead of `statements` (psql form), when they differ. */
  readonly printed?: readonly string[]
  /** For done and manual steps: what was found, or what a person must do. */
  readonly note?: string
  /** Apply runs the DDL tracking install script for this step. */
  readonly runsInstallScript?: boolean
}

/** What setup needs beyond the doctor facts, read through the admin connection. */
export interface SetupExtras {
  readonly admin: string
  readonly adminIsSuperuser: boolean
  /** The admin may SET ROLE to the replication user (to create the slot as that user). */
  readonly adminCanSetRole: boolean
  /** (owner, schema) pairs whose future tables already grant SELECT to the replication user. */
  readonly defaultSelect: ReadonlyArray<{ readonly owner: string; readonly schema: string }>
}

export interface SetupOptions {
  readonly allTables: boolean
  readonly ddlTracking: boolean
}

export function planSetup(facts: SourceFacts, extras: SetupExtras, source: ResolvedSource, options: SetupOptions): SetupStep[] {
  const selection = selectTables(facts.tables, source.tables, facts.publication, options.allTables)
  if (selection.tables.length === 0 && !options.allTables && !(facts.publication?.allTables ?? false)) {
    throw new InletError('INLET-C006', `Setup of ${source.name} needs to know which tables to publish: none are selected and publication ${source.publication} does not list any.`, {
      fix: 'Pass --tables schema.table,schema.* (or tables: in inlet.yaml), or --all-tables for a publication FOR ALL TABLES.',
    })
  }
  const user = quoteIdent(source.replicationUser)
  const steps: SetupStep[] = []
  const ctx: CheckContext = {
    facts,
    selection,
    patterns: source.tables,
    publication: source.publication,
    slot: source.slot,
    slotsToCreate: facts.slots.some((s) => s.name === source.slot) ? 0 : 1,
    applicationName: source.connection.applicationName,
    failover: source.failover,
  }

  steps.push(
    facts.server.versionNum >= 130000
      ? { title: 'PostgreSQL 13 or later', state: 'done', statements: [], note: `PostgreSQL ${facts.server.version} on ${PLATFORM_NAMES[facts.server.platform]}` }
      : { title: 'PostgreSQL 13 or later', state: 'manual', statements: [], note: `PostgreSQL ${facts.server.version} is too old: upgrade to 13 or later.` },
  )

  const wal = walLevelCheck(ctx)[0]
  const walLogical = wal?.code === 'WAL_LEVEL_LOGICAL'
  steps.push(walLogical ? { title: 'wal_level = logical', state: 'done', statements: [] } : { title: 'wal_level = logical', state: 'manual', statements: [], note: `needs a restart, so Inlet does not change it:\n${wal?.fix ?? ''}` })

  steps.push(...roleSteps(facts, source, user))
  steps.push(...grantSteps(facts, extras, selection.tables, source, user))
  steps.push(replicaIdentityStep(facts, selection.tables))
  steps.push(...publicationSteps(facts, selection.tables, source, options))

  for (const finding of capacityCheck(ctx)) {
    if (finding.level === 'warn' || finding.level === 'fail') {
      steps.push({ title: `Server setting (${finding.code})`, state: 'manual', statements: [], note: `${finding.message}\n${finding.fix ?? ''}` })
    }
  }

  steps.push(slotStep(facts, extras, source, walLogical, user))
  if (options.ddlTracking) steps.push(...ddlTrackingSteps(facts, source, options))
  return steps
}

function roleSteps(facts: SourceFacts, source: ResolvedSource, user: string): SetupStep[] {
  const onRds = facts.server.platform === 'rds' || facts.server.platform === 'aurora'
  const title = `Replication user ${source.replicationUser}`
  if (!facts.role.exists) {
    const create = `CREATE ROLE ${user} WITH LOGIN${onRds ? '' : ' REPLICATION'}`
    return [
      {
        title,
        state: 'todo',
        statements: [`${create} PASSWORD ${PASSWORD_TOKEN};`, ...(onRds ? [`GRANT rds_replication TO ${user};`] : [])],
        printed: [`${create};`, `\\password ${user}`, ...(onRds ? [`GRANT rds_replication TO ${user};`] : [])],
      },
    ]
  }
  const { role } = facts
  if (role.superuser || role.replication || role.memberOf.includes('rds_replication')) {
    return [{ title, state: 'done', statements: [], note: role.superuser ? 'exists (superuser: consider a dedicated role)' : 'exists with replication' }]
  }
  return [{ title, state: 'todo', statements: [onRds ? `GRANT rds_replication TO ${user};` : `ALTER ROLE ${user} WITH REPLICATION;`] }]
}

function grantSteps(facts: SourceFacts, extras: SetupExtras, tables: readonly TableFacts[], source: ResolvedSource, user: string): SetupStep[] {
  if (facts.role.superuser) return [{ title: 'Grants', state: 'done', statements: [], note: 'the replication user is a superuser' }]
  const roleMissing = !facts.role.exists
  const statements: string[] = []
  if (roleMissing || !facts.role.canConnect) statements.push(`GRANT CONNECT ON DATABASE ${quoteIdent(facts.server.database)} TO ${user};`)
  const schemas = [...new Set(tables.map((t) => t.schema))]
  for (const schema of schemas) {
    if (roleMissing || tables.some((t) => t.schema === schema && t.schemaUsage === false)) statements.push(`GRANT USAGE ON SCHEMA ${quoteIdent(schema)} TO ${user};`)
  }
  // Partitions too: the snapshot may read each leaf.
  const readable = tables.flatMap((t) => (t.kind === 'p' ? [t, ...partitionsOf(facts.tables, t)] : [t]))
  for (const t of readable) {
    if (roleMissing || t.canSelect === false) statements.push(`GRANT SELECT ON ${qualifiedName(t.schema, t.name)} TO ${user};`)
  }
  const owners = new Map<string, Set<string>>()
  for (const t of tables) owners.set(t.schema, (owners.get(t.schema) ?? new Set()).add(t.owner))
  for (const [schema, schemaOwners] of owners) {
    for (const owner of schemaOwners) {
      if (owner === source.replicationUser) continue
      if (extras.defaultSelect.some((d) => d.owner === owner && d.schema === schema)) continue
      statements.push(`ALTER DEFAULT PRIVILEGES FOR ROLE ${quoteIdent(owner)} IN SCHEMA ${quoteIdent(schema)} GRANT SELECT ON TABLES TO ${user};`)
    }
  }
  return statements.length === 0
    ? [{ title: 'Grants (CONNECT, USAGE, SELECT, default privileges)', state: 'done', statements: [] }]
    : [{ title: 'Grants (CONNECT, USAGE, SELECT, default privileges for future tables)', state: 'todo', statements }]
}

function replicaIdentityStep(facts: SourceFacts, tables: readonly TableFacts[]): SetupStep {
  const leaves = tables.flatMap((t) => (t.kind === 'p' ? partitionsOf(facts.tables, t) : [t]))
  const missing = leaves.filter((t) => identityVerdict(t).verdict === 'missing')
  const toast = leaves.filter((t) => identityVerdict(t).verdict === 'toast')
  const toastNote = toast.length === 0 ? undefined : `kept DEFAULT for ${toast.map((t) => displayName(t.schema, t.name)).join(', ')} (primary key + TOAST-able columns): Inlet keeps unchanged TOAST values, so FULL would only add WAL`
  if (missing.length === 0) return { title: 'Replica identity', state: 'done', statements: [], ...(toastNote === undefined ? {} : { note: toastNote }) }
  return {
    title: 'Replica identity FULL for tables without a primary key',
    state: 'todo',
    statements: missing.map((t) => `ALTER TABLE ${qualifiedName(t.schema, t.name)} REPLICA IDENTITY FULL;`),
    ...(toastNote === undefined ? {} : { note: toastNote }),
  }
}

function publicationSteps(facts: SourceFacts, tables: readonly TableFacts[], source: ResolvedSource, options: SetupOptions): SetupStep[] {
  const p = quoteIdent(source.publication)
  const title = `Publication ${source.publication}`
  const publication = facts.publication
  if (publication === undefined) {
    const target = options.allTables ? 'FOR ALL TABLES' : `FOR TABLE ${tables.map((t) => qualifiedName(t.schema, t.name)).join(', ')}`
    // publish_via_partition_root stays off: then PostgreSQL publishes a single partition's TRUNCATE,
    // and each change names its partition, so that Inlet can follow partitions exactly.
    // PostgreSQL 18 publishes stored generated columns when asked to.
    const generated = facts.server.versionNum >= 180000 ? ' WITH (publish_generated_columns = stored)' : ''
    return [{ title, state: 'todo', statements: [`CREATE PUBLICATION ${p} ${target}${generated};`] }]
  }
  const statements: string[] = []
  if (!(publication.insert && publication.update && publication.delete && publication.truncate)) {
    statements.push(`ALTER PUBLICATION ${p} SET (publish = 'insert, update, delete, truncate');`)
  }
  if (publication.viaRoot && tables.some((t) => t.kind === 'p')) statements.push(`ALTER PUBLICATION ${p} SET (publish_via_partition_root = false);`)
  if (facts.server.versionNum >= 180000 && publication.generatedColumns !== true && tables.some((t) => (t.generatedColumns ?? []).length > 0)) {
    statements.push(`ALTER PUBLICATION ${p} SET (publish_generated_columns = stored);`)
  }
  if (!publication.allTables) {
    const covered = publishedTopLevel(facts.tables, publication)
    const missing = tables.filter((t) => !covered.has(key(t.schema, t.name)))
    if (missing.length > 0) statements.push(`ALTER PUBLICATION ${p} ADD TABLE ${missing.map((t) => qualifiedName(t.schema, t.name)).join(', ')};`)
  }
  const steps: SetupStep[] = [statements.length === 0 ? { title, state: 'done', statements: [], note: publication.allTables ? 'FOR ALL TABLES' : 'covers every selected table' } : { title, state: 'todo', statements }]
  if (options.allTables && !publication.allTables) {
    steps.push({ title: `${title} FOR ALL TABLES`, state: 'manual', statements: [], note: `publication ${source.publication} exists with a table list; to publish all tables, drop it (DROP PUBLICATION ${p};) and run setup again` })
  }
  return steps
}

function slotStep(facts: SourceFacts, extras: SetupExtras, source: ResolvedSource, walLogical: boolean, user: string): SetupStep {
  const title = `Replication slot ${source.slot}`
  const slot = facts.slots.find((s) => s.name === source.slot)
  if (slot !== undefined) {
    if (slot.slotType === 'logical' && slot.plugin === 'pgoutput' && slot.database === facts.server.database && slot.walStatus !== 'lost' && slot.invalidationReason === null) {
      return { title, state: 'done', statements: [] }
    }
    return { title, state: 'manual', statements: [], note: 'a slot of that name exists but is not usable by this source: run inlet doctor for the fix' }
  }
  if (!walLogical) return { title, state: 'manual', statements: [], note: 'can be created once wal_level is logical: run setup again after the restart' }
  // (slot, plugin, temporary, two_phase, failover): PG17+ only takes the fifth.
  const create = `SELECT pg_create_logical_replication_slot(${quoteLiteral(source.slot)}, 'pgoutput'${source.failover && facts.server.versionNum >= 170000 ? ', false, false, true' : ''});`
  const asUser = extras.admin !== source.replicationUser && extras.adminCanSetRole
  return { title, state: 'todo', statements: asUser ? [`SET ROLE ${user};`, create, 'RESET ROLE;'] : [create] }
}

function ddlTrackingSteps(facts: SourceFacts, source: ResolvedSource, options: SetupOptions): SetupStep[] {
  const ddl = facts.ddlTracking
  const current = ddl.installedVersion === DDL_TRACKING_VERSION && DDL_TRIGGERS.every((t) => ddl.triggers.some((x) => x.name === t.name && x.enabled === 'A'))
  const steps: SetupStep[] = [
    current
      ? { title: `DDL tracking v${DDL_TRACKING_VERSION}`, state: 'done', statements: [] }
      : { title: `DDL tracking v${DDL_TRACKING_VERSION} (event triggers + ${DDL_SCHEMA}.${DDL_AUDIT_TABLE})`, state: 'todo', statements: [], printed: ['\\i sql/ddl-tracking/install.sql'], runsInstallScript: true },
  ]
  const allTables = facts.publication?.allTables ?? options.allTables
  if (!ddl.auditTableInPublication && !allTables) {
    steps.push({
      title: `Audit table in publication ${source.publication}`,
      state: 'todo',
      statements: [`ALTER PUBLICATION ${quoteIdent(source.publication)} ADD TABLE ${qualifiedName(DDL_SCHEMA, DDL_AUDIT_TABLE)};`],
    })
  }
  return steps
}
