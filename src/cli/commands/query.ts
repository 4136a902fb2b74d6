/**
 * `inlet query "SELECT ..."`: read-only SQL on the destination, also while an inlet run streams
 * into it (through that run's local socket, since DuckDB lets one process open the file for
 * writing); otherwise on the file opened read-only.
 */
import { localPathOf } from '../../destination/registry.js'
import { loadDestination } from '../../config/load.js'
import type { QueryResult } from '../../destination/destination.js'
import { InletError } from '../../errors/inlet-error.js'
import { askRun } from '../../observability/run-client.js'
import { withReadOnly } from '../../observability/status-read.js'
import { parseCommandArgs } from '../args.js'
import { dim, out } from '../terminal.js'

export const QUERY_HELP = `inlet query "SQL": read-only SQL on the destination, also while inlet run streams into it

Runs one SELECT (or WITH, FROM, DESCRIBE, SHOW, SUMMARIZE, EXPLAIN) on the DuckDB file. While an
inlet run holds the file, the run answers it on its local socket, from committed batches only;
otherwise the file is opened read-only. Anything that would write is refused (INLET-D005).

  --destination URL      the destination (default: the config's, else duckdb:./inlet.duckdb);
                         an Iceberg destination is queried through its local mirror
  --config FILE          config file (default: ./inlet.yaml if present)
  --limit N              rows to print at most (default 1000)
  --json                 print {columns, rows, truncated} as JSON
  -h, --help             this help`

export async function queryCommand(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('query', args, { config: { type: 'string' }, destination: { type: 'string' }, limit: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } })
  if (values.help === true) {
    out(QUERY_HELP)
    return 0
  }
  if (positionals.length !== 1) throw new InletError('INLET-C004', `inlet query takes one SQL text in quotes${positionals.length === 0 ? '' : `, not ${positionals.length} arguments`}.`, { fix: 'inlet query "SELECT count(*) FROM public.orders"' })
  const limit = values.limit === undefined ? 1000 : Number(values.limit)
  if (!Number.isInteger(limit) || limit < 1 || limit > 100_000) throw new InletError('INLET-C004', `--limit must be a whole number from 1 to 100000, not "${String(values.limit)}".`)
  const sql = positionals[0] as string
  const url = loadDestination(typeof values.config === 'string' ? values.config : undefined, typeof values.destination === 'string' ? values.destination : undefined)
  const path = localPathOf(url)
  const result = (await askRun<QueryResult>(path, 'POST', '/query', { sql, limit })) ?? (await queryFile(url, path, sql, limit))
  if (values.json === true) out(JSON.stringify(result))
  else printTable(result)
  return 0
}

async function queryFile(url: string, path: string, sql: string, limit: number): Promise<QueryResult> {
  const result = await withReadOnly(url, async (destination) => {
    const reader = await destination.openReader()
    try {
      return await reader.query(sql, limit)
    } finally {
      await reader.close()
    }
  })
  if (result === 'held') throw new InletError('INLET-D001', `The destination ${path} is held by a process that is not an inlet run answering on its socket.`, { fix: 'Stop that process (a DuckDB shell or script), or query through it.' })
  return result
}

function printTable(result: QueryResult): void {
  const names = result.columns.map((c) => c.name)
  const cells = result.rows.map((row) => names.map((n) => cellText(row[n])))
  const widths = names.map((n, i) => Math.min(60, Math.max(n.length, ...cells.map((r) => (r[i] ?? '').length))))
  const line = (parts: readonly string[]) => parts.map((p, i) => (p.length > (widths[i] ?? 0) ? `${p.slice(0, (widths[i] ?? 1) - 1)}…` : p.padEnd(widths[i] ?? 0))).join('  ').trimEnd()
  out(line(names))
  out(line(widths.map((w) => '-'.repeat(w))))
  for (const r of cells) out(line(r))
  out(dim(`(${result.rows.length} row${result.rows.length === 1 ? '' : 's'}${result.truncated ? `; more not shown: --limit` : ''})`))
}

function cellText(value: unknown): string {
  if (value === null || value === undefined) return 'NULL'
  if (typeof value === 'string') return value.replace(/[\r\n\t]/g, ' ')
  return JSON.stringify(value)
}
