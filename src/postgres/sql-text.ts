/**
 * Quoting for SQL we build as text (setup scripts, replication commands). Every identifier Inlet
 * prints or sends goes through quoteIdent, so mixed-case and odd names are always safe.
 */

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`
}

export function quoteLiteral(value: string): string {
  // E'' form only when needed, so printed SQL stays readable.
  const escaped = value.replace(/'/g, "''")
  return value.includes('\\') ? `E'${escaped.replace(/\\/g, '\\\\')}'` : `'${escaped}'`
}

export function qualifiedName(schema: string, name: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(name)}`
}

/** `schema.table` for messages: quoted only where PostgreSQL would need quotes. */
export function displayName(schema: string, name: string): string {
  const part = (p: string) => (/^[a-z_][a-z0-9_$]*$/.test(p) ? p : quoteIdent(p))
  return `${part(schema)}.${part(name)}`
}

/** PostgreSQL (or DuckDB) timestamptz text, `2026-11-25 10:00:00.123+00`, in ms since 1970. */
export function parsePgTime(text: string): number {
  return Date.parse(text.replace(' ', 'T').replace(/([+-]\d\d)$/, '$1:00'))
}
