/**
 * `inlet init`'s table list and the answers that pick from it: numbers and ranges from the list,
 * patterns (`public.*`), or `all`; per table SCD2 and excluded columns. Pure, so the same rules
 * check a typed answer and a flag.
 */
import { matchesPattern, parseTablePattern } from '../../config/table-pattern.js'
import { isInletError } from '../../errors/inlet-error.js'
import { quoteIdent } from '../../postgres/sql-text.js'
import { formatBytes } from '../../source/preflight/check-context.js'
import type { SurveyedTable } from '../../source/setup/table-survey.js'
import { dim, yellow } from '../terminal.js'

export interface Picked {
  readonly tables: readonly SurveyedTable[]
  /** What the config lists: patterns as typed, picks by number as names. */
  readonly entries: readonly string[]
}

/** Parses a pick; throws a message (string) when it is wrong. */
export function pickTables(answer: string, list: readonly SurveyedTable[], within: readonly SurveyedTable[] = list, hidden: ReadonlyArray<{ readonly schema: string; readonly name: string }> = []): Picked {
  const chosen = new Set<SurveyedTable>()
  const entries: string[] = []
  const parts = answer.split(',').map((p) => p.trim()).filter((p) => p !== '')
  for (const part of parts) {
    if (part.toLowerCase() === 'all') {
      for (const t of within) chosen.add(t)
      for (const schema of new Set(within.map((t) => t.facts.schema))) {
        // schema.* would also take an extension's table in it: then the tables by name.
        if (hidden.some((h) => h.schema === schema)) entries.push(...within.filter((t) => t.facts.schema === schema).map((t) => t.display))
        else entries.push(`${/^[a-z_][a-z0-9_$]*$/.test(schema) ? schema : quoteIdent(schema)}.*`)
      }
      continue
    }
    const range = /^(\d+)(?:\s*-\s*(\d+))?$/.exec(part)
    if (range !== null) {
      const from = Number(range[1])
      const to = Number(range[2] ?? range[1])
      if (from < 1 || to > list.length || from > to) throw `${part}: the list has tables 1 to ${list.length}.`
      for (let i = from; i <= to; i++) {
        const t = list[i - 1] as SurveyedTable
        if (!within.includes(t)) throw `${part}: ${t.display} is not among the tables chosen to replicate.`
        chosen.add(t)
        entries.push(t.display)
      }
      continue
    }
    let pattern
    try {
      pattern = parseTablePattern(part)
    } catch (error) {
      throw isInletError(error) ? `${error.message} ${error.fix ?? ''}`.trim() : String(error)
    }
    const matched = within.filter((t) => matchesPattern(pattern, t.facts.schema, t.facts.name))
    if (matched.length === 0) throw `${part} matches no table${within === list ? '' : ' among those chosen to replicate'}.`
    for (const t of matched) chosen.add(t)
    if (hidden.some((h) => matchesPattern(pattern, h.schema, h.name))) entries.push(...matched.map((t) => t.display))
    else entries.push(part)
  }
  return { tables: within.filter((t) => chosen.has(t)), entries: [...new Set(entries)] }
}

/** `schema.table.column` (or `table.column` in public), comma-separated, per chosen table. */
export function pickExclusions(answer: string, chosen: readonly SurveyedTable[]): Map<SurveyedTable, string[]> {
  const result = new Map<SurveyedTable, string[]>()
  for (const part of answer.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    const dot = columnDot(part)
    if (dot <= 0) throw `${part}: write schema.table.column.`
    const tableText = part.slice(0, dot)
    const typed = part.slice(dot + 1)
    const quoted = /^".*"$/.test(typed)
    const bare = quoted ? typed.slice(1, -1).replace(/""/g, '"') : typed
    let pattern
    try {
      pattern = parseTablePattern(tableText)
    } catch {
      throw `${part}: write schema.table.column.`
    }
    if (pattern.schema.includes('*') || pattern.table.includes('*')) throw `${part}: name one table, not a pattern.`
    const table = chosen.find((t) => matchesPattern(pattern, t.facts.schema, t.facts.name))
    if (table === undefined) throw `${part}: ${tableText} is not among the tables chosen to replicate.`
    // As in SQL, an unquoted name is folded to lower case, though one typed as the column is spelt is taken too.
    const column = table.columns.includes(bare) || quoted ? bare : bare.toLowerCase()
    if (!table.columns.includes(column)) throw `${part}: ${table.display} has no column ${column} (it has ${table.columns.join(', ')}); a name with capitals or dots goes in double quotes.`
    if (table.facts.primaryKey.includes(column)) throw `${part}: ${column} is part of ${table.display}'s primary key, which the destination needs.`
    const list = result.get(table) ?? []
    if (!list.includes(column)) list.push(column)
    if (list.length === table.columns.length) throw `${part}: that would leave ${table.display} without columns.`
    result.set(table, list)
  }
  return result
}

/** Where the column part of `schema.table.column` begins (the column may be a quoted name with dots in it). */
function columnDot(part: string): number {
  if (!part.endsWith('"')) return part.lastIndexOf('.')
  let i = part.length - 2
  for (; i >= 0; i--) {
    if (part[i] !== '"') continue
    if (part[i - 1] === '"') i-- // a doubled quote inside the name
    else break
  }
  return i > 0 && part[i - 1] === '.' ? i - 1 : -1
}

/** The numbered list, one line per table, then what the marks mean. */
export function renderTableList(list: readonly SurveyedTable[]): string {
  const rows = list.map((t, i) => [
    String(i + 1),
    t.display,
    formatBytes(t.bytes),
    t.estimatedRows === null ? '?' : `~${t.estimatedRows.toLocaleString('en-US')}`,
    t.facts.primaryKey.length === 0 ? 'none' : t.facts.primaryKey.join(', '),
    IDENTITY[t.facts.replicaIdentity],
    t.facts.toastableColumns.length === 0 ? '-' : shorten(t.facts.toastableColumns.join(', '), 28),
  ])
  const head = ['#', 'table', 'size', 'rows', 'primary key', 'replica identity', 'TOAST-able columns']
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] as string).length)))
  const line = (cells: readonly string[]) => `  ${cells.map((cell, c) => (c === 0 ? cell.padStart(widths[c] as number) : cell.padEnd(widths[c] as number))).join('  ')}`.trimEnd()
  const lines = [dim(line(head))]
  list.forEach((t, i) => lines.push(`${line(rows[i] as string[])}${t.needs === undefined ? '' : yellow(`  ! ${t.identityNote}`)}`))
  if (list.some((t) => t.needs !== undefined)) {
    lines.push('', yellow('  ! needs REPLICA IDENTITY FULL (setup sets it if you pick the table): PostgreSQL then writes the whole old'))
    lines.push(yellow('    row to WAL on every UPDATE and DELETE (more WAL, more to send). A primary key avoids that.'))
  }
  if (list.some((t) => t.facts.toastableColumns.length > 0)) {
    lines.push(dim('  TOAST-able columns: PostgreSQL does not resend their unchanged large values on UPDATE; Inlet keeps them itself.'))
  }
  return lines.join('\n')
}

const IDENTITY = { d: 'default', n: 'nothing', f: 'full', i: 'index' } as const

function shorten(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`
}
