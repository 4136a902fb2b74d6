/**
 * The optional DDL tracking script: installed, current, triggers firing always, audit table in the
 * publication.
 */
import { qualifiedName, quoteIdent } from '../../../postgres/sql-text.js'
import { DDL_AUDIT_TABLE, DDL_SCHEMA, DDL_TRACKING_VERSION, DDL_TRIGGERS } from '../../ddl-tracking.js'
import type { Check } from '../check-context.js'
import type { Finding } from '../finding.js'

export const ddlTrackingCheck: Check = ({ facts, publication }) => {
  const ddl = facts.ddlTracking
  const install = 'inlet setup --apply --ddl-tracking   (or: psql -v ON_ERROR_STOP=1 -f sql/ddl-tracking/install.sql, as a superuser)'
  if (ddl.installedVersion === undefined && !ddl.auditTableExists && ddl.triggers.length === 0) {
    return [
      {
        level: 'info',
        code: 'DDL_TRACKING_NOT_INSTALLED',
        check: 'ddl_tracking',
        message: 'DDL tracking is not installed (optional). Without it, schema changes are seen only when the next row of the table arrives; a dropped or renamed column cannot be told from drop + add.',
        fix: install,
      },
    ]
  }
  const findings: Finding[] = []
  if (ddl.installedVersion === undefined || ddl.installedVersion < DDL_TRACKING_VERSION) {
    findings.push({
      level: 'warn',
      code: 'DDL_TRACKING_OUTDATED',
      check: 'ddl_tracking',
      message: `DDL tracking version ${ddl.installedVersion ?? 'unknown'} is installed; this Inlet ships version ${DDL_TRACKING_VERSION}.`,
      fix: install,
    })
  }
  const problems = DDL_TRIGGERS.flatMap((expected) => {
    const found = ddl.triggers.find((t) => t.name === expected.name)
    if (found === undefined) return [`${expected.name} is missing`]
    if (found.enabled === 'D') return [`${expected.name} is disabled`]
    if (found.enabled !== 'A') return [`${expected.name} is not ENABLE ALWAYS (misses DDL under session_replication_role = replica)`]
    return []
  })
  if (problems.length > 0) {
    findings.push({
      level: 'fail',
      code: 'DDL_TRACKING_TRIGGERS',
      check: 'ddl_tracking',
      message: `DDL tracking event triggers: ${problems.join('; ')}.`,
      fix: DDL_TRIGGERS.map((t) => `ALTER EVENT TRIGGER ${quoteIdent(t.name)} ENABLE ALWAYS;`).join('\n') + `\n-- or reinstall: ${install}`,
    })
  }
  if (facts.publication !== undefined && !ddl.auditTableInPublication) {
    findings.push({
      level: 'fail',
      code: 'DDL_TRACKING_NOT_PUBLISHED',
      check: 'ddl_tracking',
      message: `The audit table ${DDL_SCHEMA}.${DDL_AUDIT_TABLE} is not in publication ${publication}, so schema changes never reach the stream.`,
      fix: `ALTER PUBLICATION ${quoteIdent(publication)} ADD TABLE ${qualifiedName(DDL_SCHEMA, DDL_AUDIT_TABLE)};`,
    })
  }
  if (findings.length === 0) {
    findings.push({
      level: 'ok',
      code: 'DDL_TRACKING_OK',
      check: 'ddl_tracking',
      message: `DDL tracking v${ddl.installedVersion} is installed, its ${DDL_TRIGGERS.length} event triggers fire always, and ${DDL_SCHEMA}.${DDL_AUDIT_TABLE} is published.`,
    })
  }
  return findings
}
