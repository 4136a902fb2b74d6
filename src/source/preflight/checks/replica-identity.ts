/**
 * Replica identity of every selected table (each leaf, for partitioned tables), judged against the
 * source-setup table: PK without TOAST-able columns → DEFAULT; PK with TOAST-able columns → the
 * setup document asks for FULL, but Inlet keeps unchanged TOAST values itself, so DEFAULT is fine
 * and FULL only costs WAL; no PK → FULL is required.
 */
import { displayName, qualifiedName } from '../../../postgres/sql-text.js'
import { partitionsOf } from '../../selection.js'
import type { TableFacts } from '../facts.js'
import type { Check } from '../check-context.js'
import type { Finding } from '../finding.js'

type Verdict = 'ok' | 'toast' | 'full-unneeded' | 'missing'

export function identityVerdict(t: TableFacts): { verdict: Verdict; why: string } {
  const hasPk = t.primaryKey.length > 0
  // A DEFERRABLE key may be held by two rows for a moment (UPDATE t SET id = id + 1): only the
  // whole old row tells which one a change meant.
  if (t.keyDeferrable === true) return t.replicaIdentity === 'f' ? { verdict: 'ok', why: 'FULL, DEFERRABLE key (required)' } : { verdict: 'missing', why: 'DEFERRABLE key, which needs FULL' }
  switch (t.replicaIdentity) {
    case 'n':
      return { verdict: 'missing', why: 'REPLICA IDENTITY NOTHING' }
    case 'i':
      return t.identityIndex === undefined
        ? { verdict: 'missing', why: 'REPLICA IDENTITY USING INDEX, but the index is gone' }
        : { verdict: 'ok', why: `USING INDEX ${t.identityIndex}, by which Inlet identifies rows` }
    case 'f':
      return hasPk ? { verdict: 'full-unneeded', why: 'FULL with a primary key' } : { verdict: 'ok', why: 'FULL, no primary key (required)' }
    case 'd':
      if (!hasPk) return { verdict: 'missing', why: 'DEFAULT without a primary key' }
      return t.toastableColumns.length > 0
        ? { verdict: 'toast', why: `primary key, TOAST-able ${t.toastableColumns.join(', ')}` }
        : { verdict: 'ok', why: `DEFAULT, primary key (${t.primaryKey.join(', ')})` }
  }
}

export const replicaIdentityCheck: Check = ({ facts, selection }) => {
  // Partitioned tables hold no rows: what decides is each leaf partition's identity.
  const judged = selection.tables.flatMap((t) => (t.kind === 'p' ? partitionsOf(facts.tables, t) : [t]))
  const groups = new Map<Verdict, Array<{ table: TableFacts; why: string }>>()
  for (const table of judged) {
    const { verdict, why } = identityVerdict(table)
    groups.set(verdict, [...(groups.get(verdict) ?? []), { table, why }])
  }
  const name = (t: TableFacts) => displayName(t.schema, t.name)
  const list = (entries: Array<{ table: TableFacts; why: string }>) => entries.map((e) => `${name(e.table)} (${e.why})`).join(', ')
  const publishesChanges = facts.publication === undefined || facts.publication.update || facts.publication.delete
  const findings: Finding[] = []

  const missing = groups.get('missing') ?? []
  if (missing.length > 0) {
    findings.push({
      level: publishesChanges ? 'fail' : 'warn',
      code: 'REPLICA_IDENTITY_MISSING',
      check: 'replica_identity',
      message: `${missing.length} table(s) have no usable replica identity: ${list(missing)}. While published for update/delete, PostgreSQL rejects their UPDATE and DELETE ("cannot update table ... because it does not have a replica identity"). Add a primary key, or set FULL: Inlet then applies each change to exactly one matching row, duplicates included.`,
      fix: missing.map((e) => `ALTER TABLE ${qualifiedName(e.table.schema, e.table.name)} REPLICA IDENTITY FULL;`).join('\n'),
      details: { tables: missing.map((e) => name(e.table)) },
    })
  }
  const toast = groups.get('toast') ?? []
  if (toast.length > 0) {
    findings.push({
      level: 'info',
      code: 'REPLICA_IDENTITY_TOAST',
      check: 'replica_identity',
      message: `${toast.length} table(s) have a primary key and TOAST-able columns under DEFAULT: ${list(toast)}. An update that leaves a large value unchanged does not resend it; Inlet keeps the value it already has, so FULL is not required. FULL would make PostgreSQL log the whole old row on every update and delete (more WAL, more network).`,
      details: { tables: toast.map((e) => name(e.table)) },
    })
  }
  const unneeded = groups.get('full-unneeded') ?? []
  if (unneeded.length > 0) {
    findings.push({
      level: 'info',
      code: 'REPLICA_IDENTITY_FULL_UNNEEDED',
      check: 'replica_identity',
      message: `${unneeded.length} table(s) use FULL although they have a primary key: ${list(unneeded)}. Correct, but every update and delete logs the whole old row; DEFAULT is enough for Inlet.`,
      fix: unneeded.map((e) => `ALTER TABLE ${qualifiedName(e.table.schema, e.table.name)} REPLICA IDENTITY DEFAULT;   -- optional`).join('\n'),
    })
  }
  const ok = groups.get('ok') ?? []
  if (ok.length > 0) {
    findings.push({
      level: 'ok',
      code: 'REPLICA_IDENTITY_OK',
      check: 'replica_identity',
      message: `${ok.length} table(s) have a fitting replica identity: ${list(ok)}.`,
    })
  }
  return findings
}
