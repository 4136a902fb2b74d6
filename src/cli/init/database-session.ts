/**
 * One database of `inlet init`: read it through the admin connection, list its tables, take the
 * choices, show the setup SQL in the source-setup document's order, apply it when told to, then
 * run doctor as the replication user. Returns what the config file records for it.
 */
import { resolveConfig, type ResolvedConfig } from '../../config/load.js'
import { configSchema, type TableEntryInput } from '../../config/schema.js'
import { InletError } from '../../errors/inlet-error.js'
import type { SqlClient } from '../../postgres/connect.js'
import { describeConnection, toSafeUrl, type ConnectionSettings } from '../../postgres/connection-settings.js'
import { runDoctor } from '../../source/preflight/doctor.js'
import { inspectSource } from '../../source/preflight/inspect.js'
import { PLATFORM_NAMES } from '../../source/preflight/platform-fix.js'
import { renderSetupScript, runSetup } from '../../source/setup/setup.js'
import { surveyTables, type SurveyedTable } from '../../source/setup/table-survey.js'
import { renderDoctorReport } from '../render/doctor-report.js'
import { renderSetupOutcomes } from '../render/setup-outcomes.js'
import { bold, dim, out, yellow } from '../terminal.js'
import type { InitSource } from './config-file.js'
import type { Prompter } from './prompter.js'
import { pickExclusions, pickTables, renderTableList } from './table-choice.js'

export interface DatabaseAnswers {
  readonly tables?: string | undefined
  readonly scd2?: string | undefined
  readonly exclude?: string | undefined
  /** true: apply without asking (--yes); false: never (--no-apply); undefined: ask. */
  readonly apply?: boolean | undefined
}

export interface SessionSettings {
  readonly admin: ConnectionSettings
  /** The replication connection; its password, when known, is used for doctor and never written. */
  readonly source: ConnectionSettings
  readonly publication: string
  readonly ddlTracking: boolean
  readonly env: Readonly<Record<string, string | undefined>>
  /** The new replication user's password, asked once for every database of the session. */
  readonly password: () => Promise<string>
  readonly knownPassword: () => string | undefined
  /** Asks for an existing replication user's password when nothing supplies it (undefined: skip). */
  readonly existingPassword: () => Promise<string | undefined>
  /** The databases set up before in this session: names and slots must differ from theirs. */
  readonly taken: readonly InitSource[]
}

export async function setUpDatabase(client: SqlClient, settings: SessionSettings, answers: DatabaseAnswers, prompter: Prompter): Promise<InitSource | undefined> {
  const { admin, source } = settings
  const facts = await inspectSource(client, admin, { publication: settings.publication, role: source.user })
  const { tables: survey, extensionOwned } = await surveyTables(client, facts.tables)
  out('')
  out(bold(`Database ${admin.database} on ${admin.host}:${admin.port}: PostgreSQL ${facts.server.version}, ${PLATFORM_NAMES[facts.server.platform]}`))
  out(dim(`  platform detected from: ${facts.server.platformEvidence}`))
  if (facts.server.platform !== 'self-managed') {
    out(`  Settings that need a restart are changed in the ${PLATFORM_NAMES[facts.server.platform]} console (parameter group or flags); setup marks them "by hand".`)
  }
  if (survey.length === 0) {
    out(yellow(`  ${admin.database} has no tables to replicate; skipped. Create them, then run inlet init again.`))
    return undefined
  }
  out('')
  out(renderTableList(survey))
  out('')

  const picked = pickTables(
    await prompter.ask('Tables to replicate: numbers (1,3-5), patterns (public.*) or all', { given: answers.tables, fallback: 'all', flag: 'tables', validate: validator((a) => pickTables(a, survey, survey, extensionOwned)) }),
    survey,
    survey,
    extensionOwned,
  )
  const scd2Answer = await prompter.ask('Tables that keep every version of a row (SCD2); the others mirror the source (SCD1). Numbers or patterns, empty for none', {
    given: answers.scd2,
    fallback: '',
    flag: 'scd2',
    validate: validator((a) => (a.trim() === '' ? undefined : pickTables(a, survey, picked.tables))),
  })
  const scd2 = scd2Answer.trim() === '' ? [] : pickTables(scd2Answer, survey, picked.tables).tables
  const excludeAnswer = await prompter.ask('Columns never to copy (schema.table.column, comma-separated), empty for none', {
    given: answers.exclude,
    fallback: '',
    flag: 'exclude',
    validate: validator((a) => pickExclusions(a, picked.tables)),
  })
  const excluded = pickExclusions(excludeAnswer, picked.tables)
  const tables = tableEntries(picked.entries, picked.tables, scd2, excluded)
  const needFull = picked.tables.filter((t) => t.needs !== undefined)
  if (needFull.length > 0) out(yellow(`  Setup will set REPLICA IDENTITY FULL on ${needFull.map((t) => t.display).join(', ')} (no primary key).`))

  const name = unique(sourceName(admin.database), settings.taken.map((s) => s.name))
  const initSource: InitSource = {
    name,
    connection: source,
    url: toSafeUrl(source),
    adminUrl: toSafeUrl(admin),
    publication: settings.publication,
    // Slot names are server-wide: Shop and shop, or shop-eu and shop_eu, get two.
    slot: unique(`inlet_${name.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`.slice(0, 56), settings.taken.map((s) => s.slot)),
    replicationUser: source.user,
    tables,
  }
  // The config file must load: checked before anything is applied, not after.
  const checked = configSchema.safeParse({ sources: [...settings.taken, initSource].map(sourceInput) })
  if (!checked.success) throw new InletError('INLET-C004', `The config for ${admin.database} would not load: ${checked.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}.`, { fix: 'inlet init --help' })
  const config = withSecrets(resolveConfig({ sources: [sourceInput(initSource)] }, {}, settings.env), admin, settings.knownPassword)
  const options = { allTables: false, ddlTracking: settings.ddlTracking, password: settings.password }
  const [plan] = await runSetup(config, { ...options, apply: false })
  if (plan === undefined) return initSource
  out('')
  out(bold('The setup SQL, in the order of the source-setup document:'))
  out(renderSetupScript(plan))
  const todo = plan.steps.filter((s) => s.state === 'todo').length
  if (todo === 0) {
    out(dim('  Nothing to apply: every step is done already.'))
  } else {
    const apply = await prompter.confirm(`Apply the ${todo} step${todo === 1 ? '' : 's'} above to ${describeConnection(admin)} now?`, { given: answers.apply, fallback: false })
    if (!apply) {
      out(dim('  Not applied. Later: inlet setup --apply (with the config written below), or run the SQL above with psql.'))
      return initSource
    }
    const [result] = await runSetup(config, { ...options, apply: true })
    if (result !== undefined) out(renderSetupOutcomes(result))
  }
  if (settings.knownPassword() === undefined) await settings.existingPassword()
  out(bold('inlet doctor, as the replication user:'))
  const doctor = await runDoctor(withSecrets(config, admin, settings.knownPassword))
  out(renderDoctorReport(doctor))
  return initSource
}

/** Patterns and names as chosen; a table with options gets an entry of its own instead of its name. */
function tableEntries(entries: readonly string[], chosen: readonly SurveyedTable[], scd2: readonly SurveyedTable[], excluded: ReadonlyMap<SurveyedTable, string[]>): TableEntryInput[] {
  const withOptions = chosen.filter((t) => scd2.includes(t) || excluded.has(t))
  const names = new Set(withOptions.map((t) => t.display))
  return [
    ...entries.filter((e) => !names.has(e)),
    ...withOptions.map((t): TableEntryInput => ({
      table: t.display,
      ...(scd2.includes(t) ? { scd: 2 as const } : {}),
      ...(excluded.has(t) ? { exclude_columns: excluded.get(t) ?? [] } : {}),
    })),
  ]
}

export function sourceInput(s: InitSource) {
  return { name: s.name, url: s.url, admin_url: s.adminUrl, publication: s.publication, slot: s.slot, replication_user: s.replicationUser, tables: [...s.tables] }
}

/** The config as the file will say, with the passwords init holds in memory (never written). */
function withSecrets(config: ResolvedConfig, admin: ConnectionSettings, knownPassword: () => string | undefined): ResolvedConfig {
  const password = knownPassword()
  return {
    ...config,
    sources: config.sources.map((s) => ({ ...s, admin, connection: password === undefined ? s.connection : { ...s.connection, password } })),
  }
}

/** A source name from a database name: an identifier (`shop-eu` → `shop_eu`, `2024db` → `db_2024db`). */
export function sourceName(database: string): string {
  const plain = database.replace(/[^A-Za-z0-9_]/g, '_')
  return (/^[A-Za-z_]/.test(plain) ? plain : `db_${plain}`).slice(0, 56)
}

/** `name`, or `name_2`, `name_3`... when taken (compared without case: DuckDB folds schema names). */
function unique(name: string, taken: readonly string[]): string {
  const used = new Set(taken.map((t) => t.toLowerCase()))
  let candidate = name
  for (let n = 2; used.has(candidate.toLowerCase()); n++) candidate = `${name}_${n}`
  return candidate
}

function validator(check: (answer: string) => unknown): (answer: string) => string | undefined {
  return (answer) => {
    try {
      check(answer)
      return undefined
    } catch (problem) {
      if (typeof problem === 'string') return problem
      if (problem instanceof InletError) return problem.message
      throw problem
    }
  }
}
