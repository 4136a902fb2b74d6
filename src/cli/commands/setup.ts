import { loadConfig } from '../../config/load.js'
import { InletError } from '../../errors/inlet-error.js'
import { renderSetupScript, runSetup } from '../../source/setup/setup.js'
import { COMMON_HELP, CONFIG_OPTIONS, configFlags, parseCommandArgs } from '../args.js'
import { renderSetupOutcomes } from '../render/setup-outcomes.js'
import { out, promptHidden } from '../terminal.js'

export const SETUP_HELP = `inlet setup: make each source database ready, in the order of the source-setup document

Without --apply, prints the SQL (a psql script) and changes nothing. With --apply, runs each
missing step through the admin connection; steps already done are skipped, so a second run
changes nothing. Settings that need a restart (wal_level, max_replication_slots, ...) are
printed as instructions, never applied.

Steps: replication user (password from INLET_REPLICATION_PASSWORD or a hidden prompt; stored as
a SCRAM verifier), grants (CONNECT, USAGE, SELECT, default privileges for future tables),
replica identity FULL for tables without a primary key, publication, WAL retention and capacity
settings, replication slot (created as the replication user), DDL tracking (--ddl-tracking).

  --apply                run the statements (default: print them)
  --admin URL            connection that runs setup: a superuser or the tables' owner
                         (default: the source connection)
  --user NAME            the replication user to create or grant (default: the source URL's user)
  --all-tables           create the publication FOR ALL TABLES (needs a superuser)
  --ddl-tracking         install the DDL tracking event triggers and publish their audit table
${COMMON_HELP}`

export async function setupCommand(args: readonly string[]): Promise<number> {
  const { values } = parseCommandArgs('setup', args, {
    ...CONFIG_OPTIONS,
    apply: { type: 'boolean' },
    admin: { type: 'string' },
    user: { type: 'string' },
    'all-tables': { type: 'boolean' },
    'ddl-tracking': { type: 'boolean' },
  })
  if (values.help === true) {
    out(SETUP_HELP)
    return 0
  }
  const apply = values.apply === true
  const results = await runSetup(loadConfig(configFlags(values)), {
    apply,
    allTables: values['all-tables'] === true,
    ddlTracking: values['ddl-tracking'] === true,
    password: askPassword,
  })
  if (values.json === true) {
    out(JSON.stringify(results.map(({ source, target, outcomes }) => ({ source, target, steps: outcomes })), null, 2))
    return 0
  }
  if (!apply) {
    out(results.map(renderSetupScript).join('\n'))
    return 0
  }
  for (const result of results) out(renderSetupOutcomes(result))
  out('Next: inlet doctor')
  return 0
}

let cachedPassword: string | undefined

async function askPassword(): Promise<string> {
  if (cachedPassword !== undefined) return cachedPassword
  const fromEnv = process.env.INLET_REPLICATION_PASSWORD
  if (fromEnv !== undefined && fromEnv !== '') return (cachedPassword = fromEnv)
  if (process.stdin.isTTY !== true) {
    throw new InletError('INLET-U001', 'Creating the replication user needs a password, and there is no terminal to ask on.', {
      fix: 'export INLET_REPLICATION_PASSWORD=... (from your secret store), then run setup --apply again.',
    })
  }
  const first = await promptHidden('Password for the new replication user: ')
  const second = await promptHidden('Repeat it: ')
  if (first === '' || first !== second) throw new InletError('INLET-U001', first === '' ? 'The password is empty.' : 'The two passwords differ.')
  return (cachedPassword = first)
}
