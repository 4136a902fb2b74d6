import { localPathOf } from '../../destination/registry.js'
import { loadConfig, type ResolvedConfig, type ResolvedSource } from '../../config/load.js'
import type { Destination } from '../../destination/destination.js'
import { destinationHeld, displayOf, openDestination } from '../../destination/registry.js'
import type { TableState } from '../../model/state.js'
import { connect, type SqlClient } from '../../postgres/connect.js'
import { askRun, controlSocketPath } from '../../observability/run-client.js'
import type { StatusReport } from '../../observability/status-report.js'
import { InletError } from '../../errors/inlet-error.js'
import { COMMON_HELP, CONFIG_OPTIONS, configFlags, parseCommandArgs } from '../args.js'
import { out } from '../terminal.js'

export const REFRESH_HELP = `inlet refresh TABLE...: copy tables again (full refresh)

Copies each source table (schema.table; public when no schema is given) again under a fresh
snapshot, into a table beside the current one, which stays readable; the changes made meanwhile
are applied to the copy, which then replaces the table in one DuckDB transaction. Every other
table keeps streaming throughout. Use it after a change Inlet cannot follow in place (INLET-S007),
or to repair a table edited by hand. For SCD type 2 tables the history is replaced by the current
rows.

With no inlet run holding the destination, the tables are marked and the next run copies them.
While one runs, the request goes to it on its local socket and the copy starts at once (only
there: nothing written to the source can ask for a refresh). With several sources, name a table
that more than one has as SOURCE:schema.table.
${COMMON_HELP}`

interface Wanted {
  readonly name: string
  readonly source: ResolvedSource
  readonly schema: string
  readonly table: string
}

export async function refreshCommand(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('refresh', args, { ...CONFIG_OPTIONS })
  if (values.help === true) {
    out(REFRESH_HELP)
    return 0
  }
  if (positionals.length === 0) throw new InletError('INLET-C004', 'inlet refresh needs the tables to copy again.', { fix: 'inlet refresh public.orders public.customers' })
  const config = loadConfig(configFlags(values))
  const path = localPathOf(config.destination)
  let destination: Destination
  try {
    destination = await openDestination(config.destination)
  } catch (error) {
    if (!destinationHeld(error)) throw error
    return refreshRunning(config, path, positionals)
  }
  try {
    // All names are checked before any is marked: nothing half-done on a typo.
    const streaming = new Map<ResolvedSource, TableState[]>()
    for (const source of config.sources) streaming.set(source, (await destination.readTables(source.name)).filter((t) => t.phase === 'streaming'))
    // A table is its OID: renamed since the last run (two tables swapped by renames included), its
    // state still has the old name, so names are looked up in the source where it answers.
    const oids = new Map<ResolvedSource, Map<string, number> | undefined>()
    for (const source of config.sources) oids.set(source, await currentOids(config, source, positionals))
    const stateOf = (source: ResolvedSource, schema: string, table: string): TableState | undefined => {
      const states = streaming.get(source) ?? []
      const oid = oids.get(source)?.get(`${schema}.${table}`)
      const byOid = oid === undefined ? undefined : states.find((t) => t.sourceOid === oid)
      if (byOid !== undefined) return byOid
      // Not in the source under this name: the state by its name (a table dropped since, for one).
      return states.find((t) => t.sourceSchema === schema && t.sourceTable === table && (oid === undefined || t.sourceOid === undefined))
    }
    const wanted = resolveNames(config, positionals, (source, schema, table) => stateOf(source, schema, table) !== undefined)
    const unknown = wanted.filter((w) => w.source === undefined).map((w) => w.name)
    if (unknown.length > 0) {
      const all = [...streaming].flatMap(([s, ts]) => ts.map((t) => `${config.sources.length > 1 ? `${s.name}:` : ''}${t.sourceSchema}.${t.sourceTable}`))
      throw new InletError('INLET-C004', `No streaming table ${unknown.join(', ')} in ${displayOf(config.destination)}.`, {
        fix: all.length > 0 ? `Streaming tables: ${all.join(', ')}` : 'Run inlet run first: only tables already copied can be refreshed.',
      })
    }
    for (const w of wanted as Wanted[]) {
      const state = stateOf(w.source, w.schema, w.table) as TableState
      await destination.markRefresh(w.source.name, state.sourceSchema, state.sourceTable)
    }
    out(`Marked ${positionals.length} table(s) for a refresh; the next inlet run copies them beside the current tables while the others stream, and swaps each in when loaded.`)
    return 0
  } finally {
    await destination.close()
  }
}

/**
 * The OIDs the source's tables have now, by `schema.table`, for the names asked; undefined when the source does not answer (names are then matched
 * as recorded).
 */
async function currentOids(config: ResolvedConfig, source: ResolvedSource, names: readonly string[]): Promise<Map<string, number> | undefined> {
  let client: SqlClient | undefined
  try {
    client = await connect(source.connection)
    const parts = names.map((name) => splitName(config, name)).filter((n) => n.sourceName === undefined || n.sourceName === source.name)
    const rows = await client.query<{ oid: string; schema: string; name: string }>(
      `SELECT c.oid::int8::text AS oid, n.nspname AS schema, c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND (n.nspname, c.relname) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
      [parts.map((p) => p.schema), parts.map((p) => p.table)],
    )
    return new Map(rows.rows.map((r) => [`${r.schema}.${r.name}`, Number(r.oid)]))
  } catch (error) {
    // Tables renamed since the last run are then found only by the names they had.
    const reason = error instanceof InletError ? error.message : 'its catalogue could not be read'
    process.stderr.write(`warning: could not read the current table names of source ${source.name} (${reason}); matching the names recorded at the last run.\n`)
    return undefined
  } finally {
    await client?.end().catch(() => undefined)
  }
}

/**
 * `schema.table` (public when no schema), or `source:schema.table` when several sources could have
 * it. `has` says whether a source has the table; a name no source has comes back without one.
 */
function resolveNames(config: ResolvedConfig, names: readonly string[], has: (source: ResolvedSource, schema: string, table: string) => boolean): Array<Wanted | { name: string; source: undefined }> {
  return names.map((name) => {
    const { sourceName, schema, table } = splitName(config, name)
    const candidates = config.sources.filter((s) => (sourceName === undefined || s.name === sourceName) && has(s, schema, table))
    if (candidates.length > 1) {
      throw new InletError('INLET-C004', `${name} is a table of several sources (${candidates.map((s) => s.name).join(', ')}).`, { fix: `Name the source: inlet refresh ${candidates[0]?.name}:${schema}.${table}` })
    }
    const source = candidates[0]
    return source === undefined ? { name, source: undefined } : { name, source, schema, table }
  })
}

/** `[SOURCE:][schema.]table`; `SOURCE:` only when it names a configured source (a table name may hold a colon). */
function splitName(config: ResolvedConfig, name: string): { sourceName: string | undefined; schema: string; table: string } {
  const colon = name.indexOf(':')
  const sourceName = colon > 0 && config.sources.some((s) => s.name === name.slice(0, colon)) ? name.slice(0, colon) : undefined
  const rest = sourceName === undefined ? name : name.slice(colon + 1)
  const dot = rest.indexOf('.')
  return { sourceName, schema: dot < 0 ? 'public' : rest.slice(0, dot), table: dot < 0 ? rest : rest.slice(dot + 1) }
}

/** A run holds the destination: ask it on its local socket, or (an older run) through the WAL. */
async function refreshRunning(config: ResolvedConfig, path: string, names: readonly string[]): Promise<number> {
  const status = await askRun<StatusReport>(path, 'GET', '/status')
  if (status !== undefined) {
    const streaming = new Map(status.sources.map((s) => [s.source, new Set(s.tables.filter((t) => t.phase !== 'dropped').map((t) => t.table))]))
    const wanted = resolveNames(config, names, (source, schema, table) => streaming.get(source.name)?.has(`${schema}.${table}`) === true)
    const unknown = wanted.filter((w) => w.source === undefined).map((w) => w.name)
    if (unknown.length > 0) throw new InletError('INLET-C004', `The running inlet run streams no table ${unknown.join(', ')}.`, { fix: 'inlet status lists the tables it streams.' })
    const request = (wanted as Wanted[]).map((w) => ({ source: w.source.name, schema: w.schema, table: w.table }))
    await askRun(path, 'POST', '/refresh', { tables: request })
    out(`Asked the running inlet run to refresh ${names.length} table(s); its log shows refresh.begin and refresh.done for each, and inlet status shows them refreshing.`)
    return 0
  }
  // Never through the source: any role that can log in there could ask as well.
  throw new InletError('INLET-C004', `The destination is held by a running inlet run, and its local socket (${controlSocketPath(path)}) does not answer.`, {
    fix: 'Run inlet refresh on the machine and as the user of that run, or stop the run (Ctrl-C or SIGTERM), run inlet refresh, then start the run again.',
  })
}
