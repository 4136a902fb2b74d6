/**
 * Table selection patterns (`public.orders`, `sales.*`, `"Mixed"."Case"`), parsed once and matched
 * against catalog names. Unquoted parts fold to lower case, as identifiers do in SQL.
 */
import { InletError } from '../errors/inlet-error.js'

export interface TablePattern {
  /** The text as the user wrote it, for messages. */
  readonly text: string
  readonly schema: string
  readonly table: string
}

export function parseTablePattern(text: string): TablePattern {
  const parts = splitQualified(text)
  if (parts === undefined || parts.length === 0 || parts.length > 2) {
    throw new InletError('INLET-C003', `"${text}" is not a table name or pattern.`, {
      fix: 'Write schema.table, schema.*, *.table or table (for public.table); quote mixed-case names: "Sales"."Orders".',
    })
  }
  const [schema, table] = parts.length === 2 ? (parts as [string, string]) : ['public', parts[0] as string]
  return { text, schema, table }
}

export function matchesPattern(pattern: TablePattern, schema: string, table: string): boolean {
  return globMatch(pattern.schema, schema) && globMatch(pattern.table, table)
}

/** True when the pattern names exactly one table (no wildcard). */
export function isExactPattern(pattern: TablePattern): boolean {
  return !pattern.schema.includes('*') && !pattern.table.includes('*')
}

function globMatch(glob: string, value: string): boolean {
  if (!glob.includes('*')) return glob === value
  const regex = new RegExp(`^${glob.split('*').map(escapeRegex).join('.*')}$`)
  return regex.test(value)
}

function escapeRegex(text: string): string {
  return text.replace(/[.+?^${}()|[\]\\]/g, '\\$&')
}

/** Splits `a.b` honouring double quotes; unquoted parts are lower-cased. */
function splitQualified(text: string): string[] | undefined {
  const parts: string[] = []
  let i = 0
  while (i < text.length) {
    if (text[i] === '"') {
      let part = ''
      i++
      while (i < text.length) {
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            part += '"'
            i += 2
            continue
          }
          break
        }
        part += text[i]
        i++
      }
      if (text[i] !== '"' || part === '') return undefined
      parts.push(part)
      i++
    } else {
      const end = text.indexOf('.', i)
      const part = (end === -1 ? text.slice(i) : text.slice(i, end)).trim()
      if (part === '' || /["\s]/.test(part)) return undefined
      parts.push(part.toLowerCase())
      i = end === -1 ? text.length : end
    }
    if (i < text.length) {
      if (text[i] !== '.') return undefined
      i++
      if (i === text.length) return undefined
    }
  }
  return parts
}
