/**
 * The `inlet` command: dispatch to a command, print errors as code + message + fix, and map them
 * to exit statuses (2 for bad config or no connection, 1 otherwise). No stack traces for user
 * mistakes; INLET_DEBUG=1 shows them for everything else.
 */
import { readFileSync } from 'node:fs'
import { ERROR_CODES } from '../errors/codes.js'
import { causeText, isInletError } from '../errors/inlet-error.js'
import { redactSecrets } from '../postgres/connection-settings.js'
import { compactCommand } from './commands/compact.js'
import { demoCommand } from './commands/demo.js'
import { doctorCommand } from './commands/doctor.js'
import { initCommand } from './commands/init.js'
import { refreshCommand } from './commands/refresh.js'
import { queryCommand } from './commands/query.js'
import { runCommand } from './commands/run.js'
import { setupCommand } from './commands/setup.js'
import { slotsCommand } from './commands/slots.js'
import { statusCommand } from './commands/status.js'
import { teardownCommand } from './commands/teardown.js'
import { uiCommand } from './commands/ui.js'
import { bold, dim, err, out, red } from './terminal.js'
import type { CliContext } from './context.js'

export type { CliContext } from './context.js'

type Command = (args: readonly string[], context: CliContext) => Promise<number>

const COMMANDS: Record<string, { run: Command; summary: string }> = {
  init: { run: initCommand, summary: 'set up a source step by step: tables, setup SQL, doctor, then write inlet.yaml' },
  doctor: { run: doctorCommand, summary: 'check every source prerequisite; the fix for each finding' },
  setup: { run: setupCommand, summary: 'print (or --apply) the SQL that makes each source ready' },
  run: { run: runCommand, summary: 'copy the tables, then stream every change into DuckDB (--once: catch up, stop)' },
  refresh: { run: refreshCommand, summary: 'copy tables again beside the current ones, swapped in when loaded' },
  status: { run: statusCommand, summary: 'each table\'s phase and rows, lag behind the source, the slot\'s retained WAL' },
  ui: { run: uiCommand, summary: 'the live dashboard of a destination (also while a run streams into it)' },
  query: { run: queryCommand, summary: 'read-only SQL on the destination, also while inlet run streams into it' },
  compact: { run: compactCommand, summary: 'rewrite Iceberg tables without their deletes and small files' },
  teardown: { run: teardownCommand, summary: 'drop what setup created: slot, publication, DDL tracking' },
  slots: { run: slotsCommand, summary: 'list replication slots, or drop one by name' },
  demo: { run: demoCommand, summary: 'the whole job on an embedded PostgreSQL with a live workload, into ./inlet-demo.duckdb' },
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

export const MAIN_HELP = () => `${bold('inlet')} ${version()}: PostgreSQL tables into analytics tables, by snapshot plus logical replication

Usage: inlet COMMAND [flags]

Commands:
${Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`).join('\n')}

Run inlet COMMAND --help for its flags. Configuration: --config inlet.yaml, flags, and the
libpq PG* environment variables (passwords: URL, PGPASSWORD or ~/.pgpass; never printed).
Docs: README.md, docs/configuration.md, docs/doctor.md, docs/error-codes.md`

export async function main(argv: readonly string[], context: CliContext = {}): Promise<number> {
  const [name, ...args] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    out(MAIN_HELP())
    return name === undefined ? 2 : 0
  }
  if (name === '--version' || name === '-v') {
    out(version())
    return 0
  }
  const command = COMMANDS[name]
  if (command === undefined) {
    err(`${red('error')} INLET-C004: unknown command "${name}".`)
    err(`fix: inlet --help lists the commands: ${Object.keys(COMMANDS).join(', ')}`)
    return 2
  }
  try {
    return await command.run(args, context)
  } catch (error) {
    return reportError(error)
  }
}

export function reportError(error: unknown): number {
  if (isInletError(error)) {
    err(`${red('error')} ${error.code}: ${redactSecrets(error.message)}`)
    const cause = causeText(error)
    if (cause !== undefined) err(dim(`cause: ${redactSecrets(cause)}`))
    if (error.fix !== undefined) err(`fix: ${error.fix}`)
    if (process.env.INLET_DEBUG === '1' && error.stack !== undefined) err(dim(redactSecrets(error.stack)))
    return error.exitCode
  }
  const message = error instanceof Error ? error.message : String(error)
  err(`${red('error')} INLET-X001: ${redactSecrets(message)}`)
  err(dim(`${ERROR_CODES['INLET-X001'].description}`))
  if (process.env.INLET_DEBUG === '1' && error instanceof Error && error.stack !== undefined) err(dim(redactSecrets(error.stack)))
  return 1
}
