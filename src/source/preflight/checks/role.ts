/**
 * The replication role: may it replicate, connect, and read every selected table? Missing grants
 * are listed as the exact GRANT statements.
 */
import { displayName, qualifiedName, quoteIdent } from '../../../postgres/sql-text.js'
import type { Check } from '../check-context.js'
import type { Finding } from '../finding.js'

export const roleCheck: Check = ({ facts, selection }) => {
  const { role, server } = facts
  const r = quoteIdent(role.name)
  if (!role.exists) {
    return [
      {
        level: 'fail',
        code: 'ROLE_MISSING',
        check: 'role',
        message: `The role ${role.name} does not exist.`,
        fix: `inlet setup --apply --user ${role.name}   (creates it with a password from INLET_REPLICATION_PASSWORD)`,
      },
    ]
  }
  const findings: Finding[] = []
  const onRds = server.platform === 'rds' || server.platform === 'aurora'
  const canReplicate = role.superuser || role.replication || role.memberOf.includes('rds_replication')
  if (canReplicate) {
    const how = role.superuser ? 'superuser' : role.replication ? 'REPLICATION attribute' : 'member of rds_replication'
    findings.push({ level: 'ok', code: 'ROLE_REPLICATION_OK', check: 'role', message: `Role ${role.name} may use replication (${how}).` })
  } else {
    findings.push({
      level: 'fail',
      code: 'ROLE_NO_REPLICATION',
      check: 'role',
      message: `Role ${role.name} may not create or read replication slots ("must be superuser or replication role to use replication slots").`,
      fix: onRds ? `GRANT rds_replication TO ${r};` : `ALTER ROLE ${r} WITH REPLICATION;`,
    })
  }
  if (role.superuser) {
    findings.push({
      level: 'warn',
      code: 'ROLE_IS_SUPERUSER',
      check: 'role',
      message: `Role ${role.name} is a superuser. Inlet needs only REPLICATION, CONNECT, USAGE and SELECT; a leaked superuser password gives away the whole server.`,
      fix: 'inlet setup --apply --user inlet --admin <this superuser URL>   then point --source at the new inlet role',
    })
  }
  let privilegesOk = true
  if (!role.canConnect) {
    privilegesOk = false
    findings.push({
      level: 'fail',
      code: 'ROLE_NO_CONNECT',
      check: 'role',
      message: `Role ${role.name} lacks CONNECT on database ${server.database}.`,
      fix: `GRANT CONNECT ON DATABASE ${quoteIdent(server.database)} TO ${r};`,
    })
  }
  if (!role.superuser) {
    const schemas = [...new Set(selection.tables.filter((t) => t.schemaUsage === false).map((t) => t.schema))]
    if (schemas.length > 0) {
      privilegesOk = false
      findings.push({
        level: 'fail',
        code: 'ROLE_NO_SCHEMA_USAGE',
        check: 'role',
        message: `Role ${role.name} lacks USAGE on schema${schemas.length > 1 ? 's' : ''} ${schemas.join(', ')}.`,
        fix: schemas.map((s) => `GRANT USAGE ON SCHEMA ${quoteIdent(s)} TO ${r};`).join('\n'),
        details: { schemas },
      })
    }
    const unreadable = selection.tables.filter((t) => t.canSelect === false)
    if (unreadable.length > 0) {
      privilegesOk = false
      const schemas = [...new Set(unreadable.map((t) => t.schema))]
      findings.push({
        level: 'fail',
        code: 'ROLE_NO_SELECT',
        check: 'role',
        message: `Role ${role.name} cannot SELECT ${unreadable.length} selected table(s): ${unreadable.map((t) => displayName(t.schema, t.name)).join(', ')}.`,
        fix: [
          ...unreadable.map((t) => `GRANT SELECT ON ${qualifiedName(t.schema, t.name)} TO ${r};`),
          '-- and for tables created later (run as each table owner, or add FOR ROLE owner):',
          ...schemas.map((s) => `ALTER DEFAULT PRIVILEGES IN SCHEMA ${quoteIdent(s)} GRANT SELECT ON TABLES TO ${r};`),
        ].join('\n'),
        details: { tables: unreadable.map((t) => displayName(t.schema, t.name)) },
      })
    }
    const filtered = selection.tables.filter((t) => t.rowSecurity && t.owner !== role.name)
    if (filtered.length > 0 && !role.bypassRls) {
      privilegesOk = false
      findings.push({
        level: 'fail',
        code: 'ROLE_ROW_SECURITY',
        check: 'role',
        message: `Row-level security is on for ${filtered.map((t) => displayName(t.schema, t.name)).join(', ')} and role ${role.name} does not bypass it: the snapshot would silently miss rows.`,
        fix: `ALTER ROLE ${r} BYPASSRLS;   -- needs a superuser`,
      })
    }
  }
  if (privilegesOk) {
    findings.push({
      level: 'ok',
      code: 'ROLE_PRIVILEGES_OK',
      check: 'role',
      message: `Role ${role.name} can connect and read all ${selection.tables.length} selected table(s).`,
    })
  }
  return findings
}
