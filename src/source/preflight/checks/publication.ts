/**
 * The publication: it must exist in this database, cover every selected table and publish every
 * kind of change. Row filters and column lists are reported, since they shape what arrives.
 */
import { displayName, qualifiedName, quoteIdent } from '../../../postgres/sql-text.js'
import { key, publishedTopLevel } from '../../selection.js'
import type { Check } from '../check-context.js'
import type { Finding } from '../finding.js'
import { isExactPattern } from '../../../config/table-pattern.js'

export const publicationCheck: Check = ({ facts, selection, publication: name, patterns }) => {
  const findings: Finding[] = []
  const p = quoteIdent(name)
  for (const pattern of selection.unmatched) {
    findings.push({
      level: isExactPattern(pattern) ? 'fail' : 'warn',
      code: 'TABLES_NOT_FOUND',
      check: 'publication',
      message: `No table in database ${facts.server.database} matches "${pattern.text}" (read as ${pattern.schema}.${pattern.table}).`,
      fix: 'Check the name in --tables or tables: (unquoted names fold to lower case; quote mixed case: "Sales"."Orders").',
    })
  }
  if (selection.tables.length === 0 && selection.unmatched.length === 0) {
    findings.push({
      level: 'fail',
      code: 'NO_TABLES_SELECTED',
      check: 'publication',
      message: patterns === undefined
        ? `No tables are selected: there is no --tables selection and publication ${name} ${facts.publication === undefined ? 'does not exist' : 'has no tables'}.`
        : 'The table selection matches no table.',
      fix: 'Name the tables with --tables schema.table,schema.* (or tables: in inlet.yaml), then run inlet setup to publish them.',
    })
  }

  const publication = facts.publication
  if (publication === undefined) {
    const list = selection.tables.map((t) => qualifiedName(t.schema, t.name))
    findings.push({
      level: 'fail',
      code: 'PUBLICATION_MISSING',
      check: 'publication',
      message: `Publication ${name} does not exist in database ${facts.server.database}. Create it before the slot.`,
      // Without a selection the suggestion is FOR ALL TABLES, and those tables are what was checked.
      fix: patterns !== undefined && list.length > 0 ? `CREATE PUBLICATION ${p} FOR TABLE ${list.join(', ')};` : `CREATE PUBLICATION ${p} FOR ALL TABLES;   -- needs a superuser`,
    })
    return findings
  }

  let ok = true
  const missingActions = (['insert', 'update', 'delete', 'truncate'] as const).filter((a) => !publication[a])
  if (missingActions.length > 0) {
    ok = false
    const critical = missingActions.some((a) => a !== 'truncate')
    findings.push({
      level: critical ? 'fail' : 'warn',
      code: 'PUBLICATION_ACTIONS',
      check: 'publication',
      message: `Publication ${name} does not publish ${missingActions.join(', ')}: those changes would never reach the destination.`,
      fix: `ALTER PUBLICATION ${p} SET (publish = 'insert, update, delete, truncate');`,
    })
  }

  if (!publication.allTables) {
    const covered = publishedTopLevel(facts.tables, publication)
    const missing = selection.tables.filter((t) => !covered.has(key(t.schema, t.name)))
    if (missing.length > 0) {
      ok = false
      findings.push({
        level: 'fail',
        code: 'PUBLICATION_MISSING_TABLES',
        check: 'publication',
        message: `Publication ${name} lacks ${missing.length} selected table(s): ${missing.map((t) => displayName(t.schema, t.name)).join(', ')}.`,
        fix: `ALTER PUBLICATION ${p} ADD TABLE ${missing.map((t) => qualifiedName(t.schema, t.name)).join(', ')};`,
        details: { tables: missing.map((t) => displayName(t.schema, t.name)) },
      })
    }
  }

  const partitioned = selection.tables.filter((t) => t.kind === 'p')
  if (partitioned.length > 0 && publication.viaRoot) {
    ok = false
    findings.push({
      level: 'warn',
      code: 'PUBLICATION_PARTITION_ROOT',
      check: 'publication',
      message: `Partitioned table(s) ${partitioned.map((t) => displayName(t.schema, t.name)).join(', ')} are selected and publish_via_partition_root is on: PostgreSQL then publishes no TRUNCATE of a single partition, and changes arrive without the partition they belong to, so Inlet cannot remove a truncated or detached partition's rows. With it off, changes arrive under each partition and Inlet follows truncates, attaches and detaches of partitions exactly.`,
      fix: `ALTER PUBLICATION ${p} SET (publish_via_partition_root = false);`,
    })
  }

  // Members that belong to a selected table (a published partition belongs to its root).
  const selectedKeys = new Set(selection.tables.map((t) => key(t.schema, t.name)))
  const byKey = new Map(facts.tables.map((t) => [key(t.schema, t.name), t]))
  const shaping = publication.members.filter((m) => {
    const table = byKey.get(key(m.schema, m.table))
    return selectedKeys.has(table?.root === undefined ? key(m.schema, m.table) : key(table.root.schema, table.root.name))
  })
  const filtered = shaping.filter((m) => m.rowFilter !== undefined)
  if (filtered.length > 0) {
    findings.push({
      level: 'info',
      code: 'PUBLICATION_ROW_FILTER',
      check: 'publication',
      message: `Row filters: ${filtered.map((m) => `${displayName(m.schema, m.table)} WHERE ${m.rowFilter}`).join('; ')}. Only matching rows are replicated; an update that moves a row out of the filter arrives as a delete.`,
      details: { filters: Object.fromEntries(filtered.map((m) => [displayName(m.schema, m.table), m.rowFilter])) },
    })
  }
  // pg_publication_tables lists every published column even without a column list: a list is
  // there when fewer columns are published than the table has.
  const listed = shaping.filter((m) => m.columns !== undefined && m.columns.length < (byKey.get(key(m.schema, m.table))?.publishableColumns ?? 0))
  if (listed.length > 0) {
    findings.push({
      level: 'info',
      code: 'PUBLICATION_COLUMN_LIST',
      check: 'publication',
      message: `Column lists: ${listed.map((m) => `${displayName(m.schema, m.table)} (${(m.columns ?? []).join(', ')})`).join('; ')}. Only these columns are replicated.`,
    })
  }
  if (ok) {
    findings.push({
      level: 'ok',
      code: 'PUBLICATION_OK',
      check: 'publication',
      message: `Publication ${name} ${publication.allTables ? 'covers all tables' : `covers all ${selection.tables.length} selected table(s)`} and publishes insert, update, delete and truncate${publication.viaRoot ? ' (via partition root)' : ''}.`,
    })
  }
  return findings
}
