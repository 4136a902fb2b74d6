/**
 * How to change a server setting on each platform. Managed services do not allow ALTER SYSTEM, so
 * the fix for the same finding differs between a self-managed server, RDS/Aurora, Cloud SQL and
 * Azure Flexible Server.
 */
import { quoteLiteral } from '../../postgres/sql-text.js'
import type { Platform } from './facts.js'

export const PLATFORM_NAMES: Record<Platform, string> = {
  'self-managed': 'self-managed PostgreSQL',
  rds: 'Amazon RDS for PostgreSQL',
  aurora: 'Amazon Aurora PostgreSQL',
  cloudsql: 'Google Cloud SQL for PostgreSQL',
  azure: 'Azure Database for PostgreSQL Flexible Server',
}

/** Instructions to set `name = value`; `restart` when the setting only takes effect after one. */
export function settingFix(platform: Platform, name: string, value: string, restart: boolean): string {
  switch (platform) {
    case 'self-managed':
      return restart
        ? `ALTER SYSTEM SET ${name} = ${quoteLiteral(value)};\n-- then restart PostgreSQL (e.g. sudo systemctl restart postgresql, or pg_ctl restart -D "$PGDATA")`
        : `ALTER SYSTEM SET ${name} = ${quoteLiteral(value)};\nSELECT pg_reload_conf();`
    case 'rds':
    case 'aurora': {
      const group = platform === 'aurora' ? 'DB cluster parameter group' : 'DB parameter group'
      const command = platform === 'aurora' ? 'modify-db-cluster-parameter-group --db-cluster-parameter-group-name GROUP' : 'modify-db-parameter-group --db-parameter-group-name GROUP'
      return `Set ${name} = ${value} in the instance's ${group}${restart ? ', then reboot the instance' : ''}:\n  aws rds ${command} --parameters "ParameterName=${name},ParameterValue=${value},ApplyMethod=${restart ? 'pending-reboot' : 'immediate'}"${restart ? '\n  aws rds reboot-db-instance --db-instance-identifier INSTANCE' : ''}`
    }
    case 'cloudsql':
      return `Set the database flag ${name}=${value}${restart ? ' (Cloud SQL restarts the instance)' : ''}:\n  gcloud sql instances patch INSTANCE --database-flags=${name}=${value}\n  (--database-flags replaces the whole flag list: repeat the flags already set)`
    case 'azure':
      return `Set the server parameter ${name} = ${value}${restart ? ', then restart the server' : ''}:\n  az postgres flexible-server parameter set --resource-group GROUP --server-name SERVER --name ${name} --value ${value}${restart ? '\n  az postgres flexible-server restart --resource-group GROUP --name SERVER' : ''}`
  }
}

/** The fix for wal_level, whose switch on RDS and Cloud SQL is a platform-specific parameter. */
export function walLevelFix(platform: Platform): string {
  switch (platform) {
    case 'rds':
    case 'aurora':
      return settingFix(platform, 'rds.logical_replication', '1', true)
    case 'cloudsql':
      return settingFix(platform, 'cloudsql.logical_decoding', 'on', true)
    default:
      return settingFix(platform, 'wal_level', 'logical', true)
  }
}
