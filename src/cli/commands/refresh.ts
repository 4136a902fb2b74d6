import { loadConfig } from '../../config/load.js'
import { DuckDbDestination } from '../../destination/duckdb/duckdb-destination.js'
import { InletError } from '../../errors/inlet-error.js'
import { COMMON_HELP, CONFIG_OPTIONS, configFlags, parseCommandArgs } from '../args.js'
import { out } from '../terminal.js'

export const REFRESH_HELP = `inlet refresh TABLE...: copy tables again (full refresh)

Marks each source table (schema.table; public when no schema is given) for a new copy. The next
inlet run copies it under a fresh snapshot into a table beside the current one, which stays
readable, then replaces it in one DuckDB transaction and streams the table's changes from that
snapshot on. Use it after a change Inlet cannot follow in place (INLET-S007), or to repair a table
edited by hand. For SCD type 2 tables the history is replaced by the current rows.

Run it while no inlet run holds the destination file (DuckDB allows one writing process).
${COMMON_HELP}`

export async function refreshCommand(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('refresh', args, { ...CONFIG_OPTIONS })
  if (values.help === true) {
    out(REFRESH_HELP)
    return 0
  }
  if (positionals.length === 0) throw new InletError('INLET-C004', 'inlet refresh needs the tables to copy again.', { fix: 'inlet refresh public.orders public.customers' })
  const config = loadConfig(configFlags(values))
  const source = config.sources[0]
  if (source === undefined || !config.destination.startsWith('duckdb:')) throw new InletError('INLET-C004', 'inlet refresh needs a source and a duckdb: destination.')
  const destination = await DuckDbDestination.open(config.destination.slice('duckdb:'.length))
  try {
    // All names are checked before any is marked: nothing half-done on a typo.
    const streaming = (await destination.readTables(source.name)).filter((t) => t.phase === 'streaming')
    const wanted = positionals.map((name) => {
      const dot = name.indexOf('.')
      return { name, schema: dot < 0 ? 'public' : name.slice(0, dot), table: dot < 0 ? name : name.slice(dot + 1) }
    })
    const unknown = wanted.filter((w) => !streaming.some((t) => t.sourceSchema === w.schema && t.sourceTable === w.table)).map((w) => w.name)
    if (unknown.length > 0) {
      throw new InletError('INLET-C004', `No streaming table ${unknown.join(', ')} in ${config.destination} for source "${source.name}".`, {
        fix: streaming.length > 0 ? `Streaming tables: ${streaming.map((t) => `${t.sourceSchema}.${t.sourceTable}`).join(', ')}` : 'Run inlet run first: only tables already copied can be refreshed.',
      })
    }
    for (const w of wanted) await destination.requestRefresh(source.name, w.schema, w.table)
    out(`Marked ${positionals.length} table(s) for a refresh; the next inlet run copies them beside the current tables and swaps each in when loaded.`)
    return 0
  } finally {
    await destination.close()
  }
}
