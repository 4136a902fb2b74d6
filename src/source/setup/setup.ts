/**
 * Runs `inlet setup` for every source: inspect through the admin connection, plan, then either
 * render the plan as a psql script or apply its steps in order.
 */
import type { ResolvedConfig, ResolvedSource } from '../../config/load.js'
import { InletError } from '../../errors/inlet-error.js'
import { connect, type SqlClient } from '../../postgres/connect.js'
import { describeConnection } from '../../postgres/connection-settings.js'
import { scramSha256Verifier } from '../../postgres/scram.js'
import { quoteLiteral } from '../../postgres/sql-text.js'
import { ddlTrackingScript } from '../ddl-tracking.js'
import { inspectSource } from '../preflight/inspect.js'
import { PASSWORD_TOKEN, planSetup, type SetupExtras, type SetupOptions, type SetupStep } from './plan.js'

export interface SetupRunOptions extends SetupOptions {
  readonly apply: boolean
  /** Called only when a role must be created: returns its password. */
  readonly password: () => Promise<string>
}

export interface StepOutcome {
  readonly title: string
  /** applied (apply mode), todo (print mode), done, manual */
  readonly outcome: 'applied' | 'todo' | 'done' | 'manual'
  readonly note?: string
}

export interface SourceSetup {
  readonly source: string
  readonly target: string
  readonly steps: readonly SetupStep[]
  readonly outcomes: readonly StepOutcome[]
}

export async function runSetup(config: ResolvedConfig, options: SetupRunOptions): Promise<SourceSetup[]> {
  const results: SourceSetup[] = []
  for (const source of config.sources) results.push(await setupSource(source, options))
  return results
}

async function setupSource(source: ResolvedSource, options: SetupRunOptions): Promise<SourceSetup> {
  const client = await connect(source.admin)
  try {
    const facts = await inspectSource(client, source.admin, { publication: source.publication, role: source.replicationUser })
    const extras = await readSetupExtras(client, source.replicationUser)
    const steps = planSetup(facts, extras, source, options)
    const outcomes: StepOutcome[] = []
    for (const step of steps) {
      if (step.state !== 'todo' || !options.apply) {
        outcomes.push({ title: step.title, outcome: step.state, ...(step.note === undefined ? {} : { note: step.note }) })
        continue
      }
      await applyStep(client, step, options)
      outcomes.push({ title: step.title, outcome: 'applied', ...(step.note === undefined ? {} : { note: step.note }) })
    }
    return { source: source.name, target: describeConnection(source.admin), steps, outcomes }
  } finally {
    await client.end().catch(() => undefined)
  }
}

async function applyStep(client: SqlClient, step: SetupStep, options: SetupRunOptions): Promise<void> {
  const statements = step.runsInstallScript === true ? [ddlTrackingScript('install')] : step.statements
  for (const statement of statements) {
    let sql = statement
    if (sql.includes(PASSWORD_TOKEN)) sql = sql.replace(PASSWORD_TOKEN, quoteLiteral(scramSha256Verifier(await options.password())))
    try {
      await client.query(sql)
    } catch (cause) {
      // Keep a failing session from staying under another role.
      await client.query('RESET ROLE').catch(() => undefined)
      const shown = statement.includes(PASSWORD_TOKEN) ? statement.replace(PASSWORD_TOKEN, "'***'") : step.runsInstallScript === true ? 'sql/ddl-tracking/install.sql' : statement
      throw new InletError('INLET-U002', `Setup step "${step.title}" failed on: ${shown}`, {
        cause,
        fix: 'Run setup with an --admin connection that may do this (a superuser, or the owner of the tables), then run it again: finished steps are skipped.',
      })
    }
  }
}

export async function readSetupExtras(client: SqlClient, role: string): Promise<SetupExtras> {
  const { rows } = await client.query<{ admin: string; superuser: boolean; can_set_role: boolean }>(
    /* sql */ `select current_user::text as admin,
         (select rolsuper from pg_roles where rolname = current_user) as superuser,
         coalesce((select pg_has_role(current_user, r.oid, 'MEMBER') from pg_roles r where r.rolname = $1), true) as can_set_role`,
    [role],
  )
  const defaults = await client.query<{ owner: string; schema: string }>(
    /* sql */ `select pg_get_userbyid(d.defaclrole)::text as owner, n.nspname::text as schema
       from pg_default_acl d join pg_namespace n on n.oid = d.defaclnamespace
       where d.defaclobjtype = 'r'
         and exists (select 1 from aclexplode(d.defaclacl) a join pg_roles g on g.oid = a.grantee
                     where g.rolname = $1 and a.privilege_type = 'SELECT')`,
    [role],
  )
  const row = rows[0]
  return {
    admin: row?.admin ?? '',
    adminIsSuperuser: row?.superuser ?? false,
    adminCanSetRole: row?.can_set_role ?? false,
    defaultSelect: defaults.rows,
  }
}

/** The plan as a psql script: done steps as comments, manual ones as instructions. */
export function renderSetupScript(result: SourceSetup): string {
  const lines = [`-- inlet setup: source ${result.source} (${result.target})`, '-- Run as a superuser or the tables\' owner: psql -v ON_ERROR_STOP=1 -f setup.sql', '-- or let Inlet run it: inlet setup --apply', '']
  result.steps.forEach((step, index) => {
    const head = `-- ${index + 1}. ${step.title}`
    if (step.state === 'done') {
      lines.push(`${head}: already done${step.note === undefined ? '' : ` (${step.note})`}`)
    } else if (step.state === 'manual') {
      lines.push(`${head}: TO DO BY HAND`, ...(step.note ?? '').split('\n').map((l) => `--    ${l}`))
    } else {
      lines.push(head, ...(step.note === undefined ? [] : [`--    ${step.note}`]), ...(step.printed ?? step.statements))
    }
  })
  return `${lines.join('\n')}\n`
}
