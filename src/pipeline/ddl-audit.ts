/**
 * Rows of the DDL tracking script's audit table (sql/ddl-tracking/install.sql) as they arrive in
 * the stream, inside the transaction that ran the DDL and before any row that depends on it.
 */
import { DDL_AUDIT_TABLE, DDL_SCHEMA } from '../source/ddl-tracking.js'
import type { Relation } from '../source/stream/stream-events.js'
import type { TupleValue } from '../protocol/pgoutput/messages.js'
import type { ColumnState } from '../model/schema-change.js'

export interface AuditRow {
  readonly event: 'ddl_command_end' | 'sql_drop' | 'table_rewrite' | string
  readonly commandTag: string
  readonly objectType: string | null
  readonly objectOid: number
  readonly objectIdentity: string | null
  /** For tables: every live column by attnum, as the DDL left them. */
  readonly columns: ColumnState[] | undefined
  readonly detail: Record<string, unknown> | undefined
  readonly command: string | null
  /** For tables: the primary key's attnums (empty: none). */
  readonly primaryKey: number[] | undefined
}

export function isAuditRelation(relation: Relation): boolean {
  return relation.schema === DDL_SCHEMA && relation.name === DDL_AUDIT_TABLE
}

interface AuditColumn {
  attnum: number
  name: string
  type_oid: number
  typmod: number
  dropped: boolean
  missing?: string | null
}

export function parseAuditRow(relation: Relation, tuple: readonly TupleValue[]): AuditRow {
  const field = (name: string): string | null => {
    const i = relation.columns.findIndex((c) => c.name === name)
    const v = i < 0 ? null : tuple[i]
    return typeof v === 'string' ? v : null
  }
  const columnsJson = field('columns')
  const columns =
    columnsJson === null
      ? undefined
      : (JSON.parse(columnsJson) as AuditColumn[])
          .filter((c) => !c.dropped)
          .sort((a, b) => a.attnum - b.attnum)
          // `missing` is absent in audit rows of script version 1 before it was added: unknown.
          .map((c) => ({ name: c.name, typeOid: Number(c.type_oid), typeModifier: Number(c.typmod), attnum: c.attnum, ...('missing' in c ? { missing: c.missing ?? null } : {}) }))
  const detail = field('detail')
  const primaryKey = field('primary_key')
  return {
    event: field('event') ?? '',
    commandTag: field('command_tag') ?? '',
    objectType: field('object_type'),
    objectOid: Number(field('object_oid') ?? 0),
    objectIdentity: field('object_identity'),
    columns,
    detail: detail === null ? undefined : (JSON.parse(detail) as Record<string, unknown>),
    command: field('command'),
    primaryKey: primaryKey === null ? (columnsJson === null ? undefined : []) : // int2vector cast to int2[] keeps its lower bound 0: `[0:1]={1,2}`.
      (primaryKey.replace(/^\[[^\]]*\]=/, '').match(/-?\d+/g) ?? []).map(Number),
  }
}

/** `schema.name` as object_identity spells it (quoted where needed) → its parts. */
export function splitIdentity(identity: string): [string, string] | undefined {
  const parts: string[] = []
  let i = 0
  while (i < identity.length) {
    if (identity[i] === '"') {
      let j = i + 1
      let part = ''
      while (j < identity.length) {
        if (identity[j] === '"' && identity[j + 1] === '"') {
          part += '"'
          j += 2
        } else if (identity[j] === '"') break
        else part += identity[j++]
      }
      parts.push(part)
      i = j + 2
    } else {
      const dot = identity.indexOf('.', i)
      parts.push(identity.slice(i, dot < 0 ? undefined : dot))
      i = dot < 0 ? identity.length : dot + 1
    }
  }
  return parts.length === 2 ? [parts[0] as string, parts[1] as string] : undefined
}
