/**
 * Flag parsing shared by the commands, on node's util.parseArgs. Unknown flags are errors.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util'
import type { ConfigFlags } from '../config/load.js'
import { InletError } from '../errors/inlet-error.js'

type Options = NonNullable<ParseArgsConfig['options']>

/** Flags every source-facing command accepts (see DESIGN.md, CLI contract). */
export const CONFIG_OPTIONS = {
  config: { type: 'string' },
  source: { type: 'string', multiple: true },
  destination: { type: 'string' },
  tables: { type: 'string' },
  publication: { type: 'string' },
  slot: { type: 'string' },
  scd: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies Options

export interface ParsedArgs {
  readonly values: Record<string, string | boolean | string[] | undefined>
  readonly positionals: string[]
}

export function parseCommandArgs(command: string, args: readonly string[], options: Options): ParsedArgs {
  try {
    const { values, positionals } = parseArgs({ args: [...args], options, allowPositionals: true, strict: true })
    return { values: values as ParsedArgs['values'], positionals }
  } catch (cause) {
    const message = cause instanceof Error ? cause.message : String(cause)
    throw new InletError('INLET-C004', `inlet ${command}: ${message.replace(/\. To specify a positional.*$/s, '')}`, { fix: `inlet ${command} --help` })
  }
}

export function configFlags(values: ParsedArgs['values']): ConfigFlags {
  const str = (k: string) => (typeof values[k] === 'string' ? (values[k] as string) : undefined)
  const source = values.source
  return {
    config: str('config'),
    source: Array.isArray(source) ? source : undefined,
    admin: str('admin'),
    destination: str('destination'),
    tables: str('tables'),
    publication: str('publication'),
    slot: str('slot'),
    scd: str('scd'),
    user: str('user'),
  }
}

export const COMMON_HELP = `Source flags (inlet.yaml can say the same; flags win):
  --config FILE          config file (default: ./inlet.yaml if present)
  --source URL           source database, libpq URL or keywords; repeat for several databases
                         (default: the PG* environment variables)
  --tables LIST          tables to replicate: schema.table, schema.*, comma-separated
                         (default: every table in the publication)
  --publication NAME     publication in each source database (default: inlet_pub)
  --slot NAME            replication slot (default: inlet_<database>)
  --json                 print the result as JSON
  -h, --help             this help`

/** `PORT` or `HOST:PORT` (IPv6 in brackets: `[::]:9187`); host 127.0.0.1 when none. Port 0: any free one. */
export function parseListen(flag: string, text: string): { host: string; port: number } {
  const match = /^(?:(\[[^\]]+\]|[^:]+):)?(\d{1,5})$/.exec(text)
  const port = Number(match?.[2])
  if (match === null || !Number.isInteger(port) || port < 0 || port > 65535 || (port === 0 && flag === '--metrics-port')) {
    throw new InletError('INLET-C004', `${flag} must be PORT or HOST:PORT, not "${text}".`, { fix: `e.g. ${flag} ${flag === '--metrics-port' ? '9187' : '8642'}, or ${flag} 0.0.0.0:${flag === '--metrics-port' ? '9187' : '8642'} to be reached from other hosts` })
  }
  return { host: (match[1] ?? '127.0.0.1').replace(/^\[|\]$/g, ''), port }
}
