/**
 * Columns the stream does not carry: generated columns are computed by the source and, before
 * PostgreSQL 18, never published; on 18 only stored ones, and only with the publication's
 * publish_generated_columns = stored. Such columns are absent from the destination.
 */
import { displayName, quoteIdent } from '../../../postgres/sql-text.js'
import type { Check } from '../check-context.js'

export const generatedColumnsCheck: Check = ({ facts, selection, publication: name }) => {
  const withGenerated = selection.tables.filter((t) => (t.generatedColumns ?? []).length > 0)
  if (withGenerated.length === 0) return []
  const list = withGenerated.map((t) => `${displayName(t.schema, t.name)} (${(t.generatedColumns ?? []).join(', ')})`).join(', ')
  if (facts.server.versionNum < 180000) {
    return [{ level: 'warn', code: 'GENERATED_COLUMNS_NOT_PUBLISHED', check: 'columns', message: `Generated columns are not replicated before PostgreSQL 18 (the stream does not carry them), so they are absent from the destination: ${list}.`, fix: 'Compute them in the destination (a view over the table), or upgrade to PostgreSQL 18 and set publish_generated_columns = stored.' }]
  }
  if (facts.publication?.generatedColumns === true) {
    return [{ level: 'ok', code: 'GENERATED_COLUMNS_PUBLISHED', check: 'columns', message: `Stored generated columns are published and replicated: ${list}.` }]
  }
  return [{ level: 'warn', code: 'GENERATED_COLUMNS_NOT_PUBLISHED', check: 'columns', message: `Publication ${name} does not publish generated columns, so these are absent from the destination: ${list}.`, fix: `ALTER PUBLICATION ${quoteIdent(name)} SET (publish_generated_columns = stored);` }]
}
