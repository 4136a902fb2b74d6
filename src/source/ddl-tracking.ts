/**
 * The DDL tracking script (sql/ddl-tracking/*.sql): names of what it creates, and its text for
 * `inlet setup --ddl-tracking` and `inlet teardown`. The SQL lives in files so a DBA can read and
 * run it with psql without Inlet.
 */
import { readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

export const DDL_TRACKING_VERSION = 1
export const DDL_SCHEMA = 'inlet'
export const DDL_AUDIT_TABLE = 'inlet_ddl_audit'
export const DDL_TRIGGERS = [
  { name: 'inlet_ddl_command_end', event: 'ddl_command_end' },
  { name: 'inlet_sql_drop', event: 'sql_drop' },
  { name: 'inlet_table_rewrite', event: 'table_rewrite' },
] as const

export function ddlTrackingScriptPath(kind: 'install' | 'uninstall'): string {
  // dist/src/source → project root
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
  return join(root, 'sql', 'ddl-tracking', `${kind}.sql`)
}

export function ddlTrackingScript(kind: 'install' | 'uninstall'): string {
  return readFileSync(ddlTrackingScriptPath(kind), 'utf8')
}
