/**
 * Which tables of a source are selected: those matching the configured patterns, or else every
 * table in the publication. Partitions belong to their top-level table; Inlet's own schema is
 * never selected.
 */
import { matchesPattern, type TablePattern } from '../config/table-pattern.js'
import { DDL_SCHEMA } from './ddl-tracking.js'
import type { PublicationFacts, TableFacts } from './preflight/facts.js'

export interface Selection {
  /** Top-level tables (plain or partitioned), sorted by schema and name. */
  readonly tables: readonly TableFacts[]
  /** Patterns that match no table. */
  readonly unmatched: readonly TablePattern[]
}

/**
 * With `allTables`, a missing publication counts as one FOR ALL TABLES (what setup --all-tables
 * creates, and what doctor suggests when there is none): every table is selected.
 */
export function selectTables(tables: readonly TableFacts[], patterns: readonly TablePattern[] | undefined, publication: PublicationFacts | undefined, allTables = false): Selection {
  const topLevel = tables.filter((t) => t.root === undefined && t.schema !== DDL_SCHEMA)
  if (patterns !== undefined) {
    const selected = topLevel.filter((t) => patterns.some((p) => matchesPattern(p, t.schema, t.name)))
    const unmatched = patterns.filter((p) => !topLevel.some((t) => matchesPattern(p, t.schema, t.name)))
    return { tables: selected, unmatched }
  }
  if (publication === undefined) return { tables: allTables ? topLevel : [], unmatched: [] }
  if (publication.allTables) return { tables: topLevel, unmatched: [] }
  const covered = publishedTopLevel(tables, publication)
  return { tables: topLevel.filter((t) => covered.has(key(t.schema, t.name))), unmatched: [] }
}

/** Top-level tables the publication covers (a published partition counts for its root). */
export function publishedTopLevel(tables: readonly TableFacts[], publication: PublicationFacts): Set<string> {
  const byName = new Map(tables.map((t) => [key(t.schema, t.name), t]))
  const covered = new Set<string>()
  for (const m of publication.members) {
    const table = byName.get(key(m.schema, m.table))
    const root = table?.root
    covered.add(root === undefined ? key(m.schema, m.table) : key(root.schema, root.name))
  }
  return covered
}

/** Leaf partitions of a partitioned table (all levels). */
export function partitionsOf(tables: readonly TableFacts[], root: TableFacts): TableFacts[] {
  return tables.filter((t) => t.root !== undefined && t.root.schema === root.schema && t.root.name === root.name && t.kind === 'r')
}

export function key(schema: string, name: string): string {
  return `${schema}\u0000${name}`
}
