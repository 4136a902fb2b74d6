/**
 * Server-level checks: version, standby, wal_level, slot and walsender capacity, WAL retention
 * limit, and synchronous-standby capture of Inlet's connection.
 */
import type { Check } from '../check-context.js'
import { formatBytes } from '../check-context.js'
import type { Finding } from '../finding.js'
import { PLATFORM_NAMES, settingFix, walLevelFix } from '../platform-fix.js'

const FEATURES: ReadonlyArray<[number, string]> = [
  [130000, 'pgoutput protocol 1, publish_via_partition_root, slot wal_status and safe_wal_size'],
  [140000, 'protocol 2: large transactions streamed before commit (spilled by Inlet, not the server); logical messages for heartbeats and watermarks'],
  [150000, 'protocol 3; publication row filters and column lists; empty transactions skipped'],
  [160000, 'protocol 4; origin filtering'],
  [170000, 'failover slots; invalidation_reason'],
  [180000, 'published generated columns; idle_replication_slot_timeout'],
]

export const versionCheck: Check = ({ facts }) => {
  const { server } = facts
  const findings: Finding[] = []
  if (server.versionNum < 130000) {
    findings.push({
      level: 'fail',
      code: 'SERVER_VERSION_UNSUPPORTED',
      check: 'version',
      message: `PostgreSQL ${server.version} is older than 13, the oldest version Inlet supports.`,
      fix: 'Upgrade the server to PostgreSQL 13 or later (16+ recommended).',
    })
  } else {
    const enabled = FEATURES.filter(([min]) => server.versionNum >= min).map(([, text]) => text)
    findings.push({
      level: 'ok',
      code: 'SERVER_VERSION_OK',
      check: 'version',
      message: `PostgreSQL ${server.version} on ${PLATFORM_NAMES[server.platform]} (detected: ${server.platformEvidence}). Enables: ${enabled.join('; ')}.`,
      details: { version: server.version, versionNum: server.versionNum, platform: server.platform, features: enabled },
    })
  }
  if (server.inRecovery) {
    findings.push({
      level: 'fail',
      code: 'SERVER_IS_STANDBY',
      check: 'version',
      message: 'This server is a standby (in recovery). Inlet needs the primary: standbys cannot export the snapshot the initial copy relies on.',
      fix: 'Point the source URL at the primary (on RDS/Aurora the writer endpoint).',
    })
  }
  return findings
}

export const walLevelCheck: Check = ({ facts }) => {
  const walLevel = facts.server.settings.wal_level ?? 'unknown'
  if (walLevel === 'logical') {
    return [{ level: 'ok', code: 'WAL_LEVEL_LOGICAL', check: 'wal_level', message: 'wal_level is logical.' }]
  }
  return [
    {
      level: 'fail',
      code: 'WAL_LEVEL_NOT_LOGICAL',
      check: 'wal_level',
      message: `wal_level is '${walLevel}'; logical replication needs 'logical'. Changing it needs a restart (${PLATFORM_NAMES[facts.server.platform]}).`,
      fix: walLevelFix(facts.server.platform),
      details: { wal_level: walLevel },
    },
  ]
}

export const capacityCheck: Check = ({ facts, slotsToCreate, applicationName }) => {
  const { settings, platform } = facts.server
  const findings: Finding[] = []

  const keepMb = Number(settings.max_slot_wal_keep_size ?? '-1')
  if (keepMb === -1) {
    const maxWalMb = Number(settings.max_wal_size ?? '1024')
    const retained = Math.max(0, ...facts.slots.map((s) => s.retainedBytes ?? 0))
    const suggestedGb = Math.max(16, Math.ceil((4 * maxWalMb) / 1024), Math.ceil((2 * retained) / 1024 ** 3))
    findings.push({
      level: 'warn',
      code: 'WAL_KEEP_SIZE_UNLIMITED',
      check: 'capacity',
      message: `max_slot_wal_keep_size is -1 (unlimited): if Inlet stops for long, its slot keeps WAL until the disk fills. A finite value (${suggestedGb}GB suggested: 4 x max_wal_size, at least 16GB and twice what slots retain now) invalidates the slot instead, which Inlet detects and repairs with a re-snapshot. Some managed services do not allow this setting and clean up slots themselves.`,
      fix: settingFix(platform, 'max_slot_wal_keep_size', `${suggestedGb}GB`, false),
      details: { suggested: `${suggestedGb}GB` },
    })
  } else {
    findings.push({ level: 'ok', code: 'WAL_KEEP_SIZE_OK', check: 'capacity', message: `max_slot_wal_keep_size is ${formatBytes(keepMb * 1024 * 1024)}.` })
  }

  const maxSlots = Number(settings.max_replication_slots ?? '0')
  const used = facts.slots.length
  const free = maxSlots - used
  if (free < slotsToCreate) {
    const target = used + slotsToCreate + 2
    findings.push({
      level: 'fail',
      code: 'SLOTS_EXHAUSTED',
      check: 'capacity',
      message: `max_replication_slots is ${maxSlots} and ${used} slots exist, so the ${slotsToCreate} slot(s) this config needs cannot be created.`,
      fix: `${settingFix(platform, 'max_replication_slots', String(target), true)}\n-- or drop unused slots: inlet slots list, then inlet slots drop NAME`,
      details: { max_replication_slots: maxSlots, used, needed: slotsToCreate },
    })
  } else {
    findings.push({
      level: 'ok',
      code: 'SLOTS_OK',
      check: 'capacity',
      message: `max_replication_slots is ${maxSlots}: ${used} in use, ${free} free, ${slotsToCreate} needed by this config.`,
    })
  }

  const maxSenders = Number(settings.max_wal_senders ?? '0')
  const logicalSlots = facts.slots.filter((s) => s.slotType === 'logical').length + slotsToCreate
  const wanted = Math.max(logicalSlots, facts.server.walsendersInUse + 1) + 2
  if (maxSenders < Math.max(logicalSlots, facts.server.walsendersInUse + 1)) {
    findings.push({
      level: 'fail',
      code: 'WAL_SENDERS_LOW',
      check: 'capacity',
      message: `max_wal_senders is ${maxSenders}, below the ${logicalSlots} logical slot(s) (${facts.server.walsendersInUse} walsender(s) running): a consumer may be refused.`,
      fix: settingFix(platform, 'max_wal_senders', String(wanted), true),
    })
  } else if (maxSenders < wanted) {
    findings.push({
      level: 'warn',
      code: 'WAL_SENDERS_LOW',
      check: 'capacity',
      message: `max_wal_senders is ${maxSenders} for ${logicalSlots} logical slot(s): little headroom for a reconnect overlapping a stale walsender or an extra consumer.`,
      fix: settingFix(platform, 'max_wal_senders', String(wanted), true),
    })
  } else {
    findings.push({
      level: 'ok',
      code: 'WAL_SENDERS_OK',
      check: 'capacity',
      message: `max_wal_senders is ${maxSenders}: ${facts.server.walsendersInUse} in use, ${logicalSlots} logical slot(s).`,
    })
  }

  const syncNames = standbyNames(settings.synchronous_standby_names ?? '')
  if (syncNames.some((n) => n === '*' || n.toLowerCase() === applicationName.toLowerCase())) {
    findings.push({
      level: 'warn',
      code: 'SYNC_STANDBY_MATCH',
      check: 'capacity',
      message: `synchronous_standby_names ('${settings.synchronous_standby_names}') matches Inlet's application_name '${applicationName}': the primary could wait for Inlet's acknowledgements before each commit returns.`,
      fix: `Name the synchronous standbys explicitly in synchronous_standby_names, or connect Inlet with another name: add ?application_name=inlet_cdc to the source URL.`,
    })
  }
  return findings
}

/** Names listed in synchronous_standby_names ("FIRST 1 (a, b)", "ANY 2 (a,b)", "a, b", "*"). */
export function standbyNames(value: string): string[] {
  const inner = value.replace(/^\s*(FIRST|ANY)?\s*\d*\s*\(/i, '').replace(/\)\s*$/, '')
  return inner
    .split(',')
    .map((n) => n.trim().replace(/^"(.*)"$/, '$1'))
    .filter((n) => n !== '')
}
