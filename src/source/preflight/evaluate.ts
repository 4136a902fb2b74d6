/**
 * Runs every check over the facts of one source. Pure: the same facts always give the same
 * findings, so checks are unit-tested without a server.
 */
import type { Check, CheckContext } from './check-context.js'
import { ddlTrackingCheck } from './checks/ddl-tracking.js'
import { publicationCheck } from './checks/publication.js'
import { replicaIdentityCheck } from './checks/replica-identity.js'
import { roleCheck } from './checks/role.js'
import { capacityCheck, versionCheck, walLevelCheck } from './checks/server.js'
import { slotCheck } from './checks/slot.js'
import { tlsCheck } from './checks/tls.js'
import { failoverCheck } from './checks/failover.js'
import { generatedColumnsCheck } from './checks/columns.js'
import type { Finding } from './finding.js'

/** In the order of the source-setup document. */
export const CHECKS: readonly Check[] = [
  versionCheck,
  walLevelCheck,
  roleCheck,
  replicaIdentityCheck,
  publicationCheck,
  generatedColumnsCheck,
  capacityCheck,
  slotCheck,
  failoverCheck,
  ddlTrackingCheck,
  tlsCheck,
]

export function evaluate(ctx: CheckContext): Finding[] {
  return CHECKS.flatMap((check) => check(ctx))
}
