/**
 * Failover slots (PostgreSQL 17+, config `failover: true`): the server copies the slot to physical
 * standbys so that a promoted standby can go on streaming. What the primary can show is checked
 * here; the standby's own settings are named in the messages.
 */
import { quoteLiteral } from '../../../postgres/sql-text.js'
import type { Check } from '../check-context.js'
import type { Finding } from '../finding.js'

/** On the standby: what makes the server synchronize failover slots there. */
const STANDBY_SETTINGS = 'on each standby: sync_replication_slots = on, hot_standby_feedback = on, primary_slot_name set, and dbname in primary_conninfo'

export const failoverCheck: Check = ({ facts, slot: name, failover }) => {
  if (!failover) return []
  if (facts.server.versionNum < 170000) {
    return [{ level: 'fail', code: 'FAILOVER_UNSUPPORTED', check: 'failover', message: `failover: true needs PostgreSQL 17 or later; this server runs ${facts.server.version}.`, fix: 'Remove failover: true for this source (after a failover, run inlet run --resync against the new primary).' }]
  }
  const findings: Finding[] = []
  const slot = facts.slots.find((s) => s.name === name)
  if (slot !== undefined && slot.slotType === 'logical' && !slot.failover) {
    findings.push({
      level: 'warn',
      code: 'SLOT_NOT_FAILOVER',
      check: 'failover',
      message: `Slot ${name} is not a failover slot, so standbys do not receive it. inlet run turns failover on when it starts.`,
      fix: `psql "dbname=${facts.server.database} replication=database" -c 'ALTER_REPLICATION_SLOT ${name} (FAILOVER true)'`,
    })
  }
  const standbySlots = (facts.server.settings.synchronized_standby_slots ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '')
  if (standbySlots.length === 0) {
    findings.push({
      level: 'warn',
      code: 'STANDBY_SLOTS_UNSET',
      check: 'failover',
      message: `synchronized_standby_slots is empty: Inlet may receive (and the slot confirm) changes that no standby has yet, so after a failover the promoted standby's copy of the slot could stand behind Inlet's checkpoint or miss it. List the standbys' physical slots (and ${STANDBY_SETTINGS}).`,
      fix: `ALTER SYSTEM SET synchronized_standby_slots = 'STANDBY_PHYSICAL_SLOT';\nSELECT pg_reload_conf();`,
    })
  } else {
    const missing = standbySlots.filter((s) => !facts.slots.some((f) => f.name === s && f.slotType === 'physical'))
    if (missing.length > 0) {
      findings.push({
        level: 'warn',
        code: 'STANDBY_SLOTS_MISSING',
        check: 'failover',
        message: `synchronized_standby_slots names ${missing.join(', ')}, which ${missing.length === 1 ? 'is not a physical slot' : 'are not physical slots'} on this server: logical walsenders wait for ${missing.length === 1 ? 'it' : 'them'} and stream nothing.`,
        fix: missing.map((s) => `SELECT pg_create_physical_replication_slot(${quoteLiteral(s)});   -- or remove it from synchronized_standby_slots`).join('\n'),
      })
    }
  }
  if (findings.length === 0) {
    findings.push({ level: 'ok', code: 'FAILOVER_OK', check: 'failover', message: `Failover slots: synchronized_standby_slots = ${standbySlots.join(', ')}; ${STANDBY_SETTINGS}.` })
  }
  return findings
}
