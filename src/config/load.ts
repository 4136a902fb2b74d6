/**
 * Builds the resolved configuration from the YAML file, command-line flags (which win) and the
 * `PG*` environment variables. The only place that reads config files.
 */
import { DESTINATION_FORMS, parseDestination } from '../destination/registry.js'
import { existsSync, readFileSync } from 'node:fs'
import { parseDocument } from 'yaml'
import type { z } from 'zod'
import { InletError } from '../errors/inlet-error.js'
import { parseConnectionString, settingsFromEnv, type ConnectionSettings } from '../postgres/connection-settings.js'
import { configSchema, type ConfigInput, type SourceInput, type TableEntryInput } from './schema.js'
import { parseTablePattern, type TablePattern } from './table-pattern.js'
import { defaultMemoryLimit, memoryBudget, parseMemoryLimit, type MemoryBudget } from './memory-budget.js'

export const DEFAULT_CONFIG_FILE = 'inlet.yaml'
export const DEFAULT_PUBLICATION = 'inlet_pub'
export const DEFAULT_DESTINATION = 'duckdb:./inlet.duckdb'

/** Flags that override the config file. Source-level flags apply to every source. */
export interface ConfigFlags {
  readonly config?: string | undefined
  readonly source?: readonly string[] | undefined
  readonly admin?: string | undefined
  readonly destination?: string | undefined
  readonly tables?: string | undefined
  readonly publication?: string | undefined
  readonly slot?: string | undefined
  readonly scd?: string | undefined
  readonly user?: string | undefined
}

export interface ResolvedSource {
  readonly name: string
  readonly connection: ConnectionSettings
  /** Connection for setup and teardown; the source connection when not configured. */
  readonly admin: ConnectionSettings
  readonly publication: string
  readonly slot: string
  /** Undefined: every table in the publication. */
  readonly tables: readonly TablePattern[] | undefined
  /** Per-table destination name, SCD type and excluded columns, from `tables:` entries with options. */
  readonly tableOptions: readonly TableOptionsInput[]
  readonly replicationUser: string
  /** DuckDB schema of the source's `public` tables (others: `<it>_<schema>`); undefined: the source schema. */
  readonly destinationSchema: string | undefined
  /** PG17+: the slot is created (or altered) as a failover slot. */
  readonly failover: boolean
}

export interface TableOptionsInput {
  readonly pattern: TablePattern
  readonly destSchema: string | undefined
  readonly destName: string | undefined
  readonly scd: 1 | 2 | undefined
  readonly excludeColumns: readonly string[] | undefined
}

export interface ResolvedConfig {
  readonly sources: readonly ResolvedSource[]
  readonly destination: string
  readonly scd: 1 | 2
  /** Which tables are copied again by themselves after a change that needs it. */
  readonly autoRefresh: 'scd1' | 'all' | 'off'
  readonly droppedColumns: 'keep' | 'drop'
  /** Seconds between heartbeat messages; undefined: none. */
  readonly heartbeatSeconds: number | undefined
  /** commit_interval_seconds and commit_max_changes, when given (else the destination's defaults). */
  readonly commit: { readonly intervalMs?: number; readonly maxChanges?: number }
  readonly retainedWalWarningBytes: number
  /** `memory_limit` and its split among the parts of a run. */
  readonly memory: MemoryBudget
  /** The file the config came from, if any. */
  readonly file: string | undefined
}

export interface ResolveOptions {
  /** No source given is fine (inlet status reads the sources the destination recorded). */
  readonly sourcesOptional?: boolean
}

export function loadConfig(flags: ConfigFlags, env: Readonly<Record<string, string | undefined>> = process.env, options: ResolveOptions = {}): ResolvedConfig {
  const file = flags.config ?? (existsSync(DEFAULT_CONFIG_FILE) ? DEFAULT_CONFIG_FILE : undefined)
  const input = file === undefined ? {} : readConfigFile(file)
  return resolveConfig(input, flags, env, file, options)
}

export function readConfigFile(path: string): ConfigInput {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (cause) {
    throw new InletError('INLET-C001', `Cannot read the config file ${path}.`, { cause, fix: 'Check the path given with --config.' })
  }
  return parseConfigText(text, path)
}

export function parseConfigText(text: string, path: string): ConfigInput {
  const doc = parseDocument(text, { prettyErrors: true })
  if (doc.errors.length > 0) {
    const lines = doc.errors.map((e) => `  ${path}:${e.linePos?.[0]?.line ?? '?'}:${e.linePos?.[0]?.col ?? '?'}: ${e.message.split('\n')[0]}`)
    throw new InletError('INLET-C002', `${path} is not valid YAML:\n${lines.join('\n')}`)
  }
  const raw: unknown = doc.toJS() ?? {}
  const result = configSchema.safeParse(raw)
  if (!result.success) {
    throw new InletError('INLET-C003', `${path} has ${result.error.issues.length === 1 ? 'a problem' : `${result.error.issues.length} problems`}:\n${formatIssues(result.error.issues)}`, {
      fix: 'See docs/configuration.md for every field.',
    })
  }
  return result.data
}

/** One line per problem, naming the field path as it appears in the file: `sources[1].url`. */
export function formatIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .map((issue) => {
      const path = issue.path.reduce<string>((acc, part) => (typeof part === 'number' ? `${acc}[${part}]` : acc === '' ? String(part) : `${acc}.${String(part)}`), '')
      let message = issue.message
      if (issue.code === 'unrecognized_keys') message = `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`
      return `  - ${path === '' ? '(top level)' : path}: ${message}`
    })
    .join('\n')
}

export function resolveConfig(input: ConfigInput, flags: ConfigFlags, env: Readonly<Record<string, string | undefined>>, file?: string, options: ResolveOptions = {}): ResolvedConfig {
  const flagTables = flags.tables === undefined ? undefined : splitList(flags.tables)
  let sourceInputs: SourceInput[]
  if (flags.source !== undefined && flags.source.length > 0) {
    sourceInputs = flags.source.map((url) => ({ url }))
  } else if (input.sources !== undefined) {
    sourceInputs = input.sources
  } else if (env.PGDATABASE !== undefined || env.PGHOST !== undefined) {
    sourceInputs = [{ url: '' }]
  } else if (options.sourcesOptional === true) {
    sourceInputs = []
  } else {
    throw new InletError('INLET-C006', 'No source database given.', {
      fix: 'Pass --source postgres://USER@HOST:5432/DB, list sources: in inlet.yaml, or set PGHOST and PGDATABASE.',
    })
  }

  const several = sourceInputs.length > 1
  const sources = sourceInputs.map((s): ResolvedSource => {
    const connection = s.url === '' ? settingsFromEnv(env) : parseConnectionString(s.url, env)
    const adminText = flags.admin ?? s.admin_url
    const admin = adminText === undefined ? connection : parseConnectionString(adminText, env)
    const entries: TableEntryInput[] | undefined = flagTables ?? s.tables ?? input.tables
    const tableTexts = entries?.map((e) => (typeof e === 'string' ? e : e.table))
    const tableOptions = (entries ?? []).flatMap((e): TableOptionsInput[] => {
      if (typeof e === 'string') return []
      const [schemaPart, namePart] = e.as === undefined ? [undefined, undefined] : e.as.includes('.') ? e.as.split('.') : [undefined, e.as]
      return [{ pattern: parseTablePattern(e.table), destSchema: schemaPart, destName: namePart, scd: e.scd, excludeColumns: e.exclude_columns }]
    })
    const name = s.name ?? connection.database
    return {
      name,
      connection,
      admin,
      publication: flags.publication ?? s.publication ?? DEFAULT_PUBLICATION,
      slot: flags.slot ?? s.slot ?? defaultSlotName(connection.database),
      tables: tableTexts?.map(parseTablePattern),
      tableOptions,
      replicationUser: flags.user ?? s.replication_user ?? connection.user,
      // Several sources share one destination: each gets a schema of its own (two databases often
      // have tables of the same name).
      destinationSchema: s.destination_schema ?? (several ? destinationSchemaName(name) : undefined),
      failover: s.failover === true,
    }
  })
  checkDistinct(sources)

  const scdText = flags.scd ?? (input.scd === undefined ? undefined : String(input.scd))
  if (scdText !== undefined && scdText !== '1' && scdText !== '2') {
    throw new InletError('INLET-C004', `--scd must be 1 or 2, not "${scdText}".`)
  }
  const destination = checkDestination(flags.destination ?? input.destination ?? DEFAULT_DESTINATION)
  return { sources, destination, scd: scdText === '2' ? 2 : 1, autoRefresh: input.auto_refresh ?? 'scd1', droppedColumns: input.dropped_columns ?? 'keep', heartbeatSeconds: input.heartbeat_seconds, commit: { ...(input.commit_interval_seconds === undefined ? {} : { intervalMs: input.commit_interval_seconds * 1000 }), ...(input.commit_max_changes === undefined ? {} : { maxChanges: input.commit_max_changes }) }, retainedWalWarningBytes: (input.retained_wal_warning_mb ?? 1024) * 1024 * 1024, memory: memoryBudget(input.memory_limit === undefined ? defaultMemoryLimit() : parseMemoryLimit(input.memory_limit)), file }
}

/** A source name as a DuckDB schema name (database names may hold any character). */
function destinationSchemaName(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9_]/g, '_').replace(/^(?=[0-9])/, '_').slice(0, 63)
}

function checkDestination(destination: string): string {
  if (parseDestination(destination) === undefined) {
    throw new InletError('INLET-C004', `The destination "${destination}" is not supported.`, { fix: `Use --destination ${DESTINATION_FORMS.join(' or ')}, e.g. duckdb:./lake.duckdb` })
  }
  return destination
}

/** The destination URL alone (for commands that read the destination and need no source). */
export function loadDestination(configFile: string | undefined, flag: string | undefined): string {
  const file = configFile ?? (existsSync(DEFAULT_CONFIG_FILE) ? DEFAULT_CONFIG_FILE : undefined)
  const input = file === undefined ? {} : readConfigFile(file)
  return checkDestination(flag ?? input.destination ?? DEFAULT_DESTINATION)
}

/** `inlet_` + the database name, reduced to what slot names allow. */
export function defaultSlotName(database: string): string {
  const cleaned = database.toLowerCase().replace(/[^a-z0-9_]/g, '_')
  return `inlet_${cleaned}`.slice(0, 63)
}

function splitList(text: string): string[] {
  // Commas separate patterns, except inside double quotes.
  const parts: string[] = []
  let current = ''
  let quoted = false
  for (const ch of text) {
    if (ch === '"') quoted = !quoted
    if (ch === ',' && !quoted) {
      parts.push(current.trim())
      current = ''
    } else current += ch
  }
  parts.push(current.trim())
  return parts.filter((p) => p !== '')
}

function checkDistinct(sources: readonly ResolvedSource[]): void {
  const seenNames = new Set<string>()
  const seenSlots = new Map<string, string>()
  const seenDatabases = new Set<string>()
  for (const s of sources) {
    const server = `${s.connection.host}:${s.connection.port}`
    if (seenNames.has(s.name)) {
      throw new InletError('INLET-C007', `Two sources are named "${s.name}".`, { fix: 'Give each source a distinct name: in inlet.yaml.' })
    }
    const database = `${server}/${s.connection.database}`
    if (seenDatabases.has(database)) {
      throw new InletError('INLET-C007', `The database ${database} is listed twice.`, { fix: 'List each source database once; one publication and one slot serve all of its tables.' })
    }
    const slotKey = `${server}/${s.slot}`
    const other = seenSlots.get(slotKey)
    if (other !== undefined) {
      throw new InletError('INLET-C007', `Sources "${other}" and "${s.name}" on ${server} both use the slot "${s.slot}"; slot names are server-wide.`, {
        fix: 'Give each source its own slot: name, or drop --slot so each gets inlet_<database>.',
      })
    }
    seenNames.add(s.name)
    seenDatabases.add(database)
    seenSlots.set(slotKey, s.name)
  }
}
