import { loadConfig } from '../../config/load.js'
import { DuckDbDestination } from '../../destination/duckdb/duckdb-destination.js'
import { InletError } from '../../errors/inlet-error.js'
import { connect } from '../../postgres/connect.js'
import { quoteIdent } from '../../postgres/sql-text.js'
import { serverVersionNum } from '../../source/catalog.js'
import { REFRESH_MESSAGE_PREFIX } from '../../pipeline/run-pipeline.js'
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
While one runs (PostgreSQL 14+), the request reaches it through the WAL as a logical decoding
message (pg_logical_emit_message, prefix ${REFRESH_MESSAGE_PREFIX}) and it starts at once.
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
  const wanted = positionals.map((name) => {
    const dot = name.indexOf('.')
    return { name, schema: dot < 0 ? 'public' : name.slice(0, dot), table: dot < 0 ? name : name.slice(dot + 1) }
  })
  let destination: DuckDbDestination
  try {
    destination = await DuckDbDestination.open(config.destination.slice('duckdb:'.length))
  } catch (error) {
    if (!DuckDbDestination.isHeld(error)) throw error
    // A run holds the file: ask it through the stream it reads.
    const client = await connect(source.connection)
    try {
      const version = await serverVersionNum(client)
      if (version < 140000) {
        throw new InletError('INLET-C004', `The destination is held by a running inlet run, and PostgreSQL ${Math.floor(version / 10000)} cannot pass it the request (logical decoding messages need 14+).`, { fix: 'Stop the run (Ctrl-C or SIGTERM), run inlet refresh again, then start the run.' })
      }
      const missing = []
      for (const w of wanted) if ((await client.query('SELECT to_regclass($1) AS r', [`${quoteIdent(w.schema)}.${quoteIdent(w.table)}`])).rows[0]?.r == null) missing.push(w.name)
      if (missing.length > 0) throw new InletError('INLET-C004', `No table ${missing.join(', ')} in the source ${source.connection.database}.`, { fix: 'Name tables as schema.table, as the source has them.' })
      const message = JSON.stringify({ slot: source.slot, refresh: wanted.map((w) => [w.schema, w.table]) })
      await client.query('SELECT pg_logical_emit_message(false, $1, $2)', [REFRESH_MESSAGE_PREFIX, message])
    } finally {
      await client.end()
    }
    out(`Asked the running inlet run (slot ${source.slot}) to refresh ${positionals.length} table(s); its log shows refresh.start and refresh.done for each.`)
    return 0
  }
  try {
    // All names are checked before any is marked: nothing half-done on a typo.
    const streaming = (await destination.readTables(source.name)).filter((t) => t.phase === 'streaming')
    const unknown = wanted.filter((w) => !streaming.some((t) => t.sourceSchema === w.schema && t.sourceTable === w.table)).map((w) => w.name)
    if (unknown.length > 0) {
      throw new InletError('INLET-C004', `No streaming table ${unknown.join(', ')} in ${config.destination} for source "${source.name}".`, {
        fix: streaming.length > 0 ? `Streaming tables: ${streaming.map((t) => `${t.sourceSchema}.${t.sourceTable}`).join(', ')}` : 'Run inlet run first: only tables already copied can be refreshed.',
      })
    }
    for (const w of wanted) await destination.requestRefresh(source.name, w.schema, w.table)
    out(`Marked ${positionals.length} table(s) for a refresh; the next inlet run copies them beside the current tables while the others stream, and swaps each in when loaded.`)
    return 0
  } finally {
    await destination.close()
  }
}
