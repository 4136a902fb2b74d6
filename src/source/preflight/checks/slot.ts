/**
 * The replication slot: present, logical, pgoutput, in this database, healthy, and who holds it.
 */
import { quoteLiteral } from '../../../postgres/sql-text.js'
import type { Check } from '../check-context.js'
import { formatBytes } from '../check-context.js'
import type { Finding } from '../finding.js'

export const slotCheck: Check = ({ facts, slot: name, applicationName }) => {
  const slot = facts.slots.find((s) => s.name === name)
  const lit = quoteLiteral(name)
  // Doctor connects as the replication user, so the fix runs as that user already.
  const create = `SELECT pg_create_logical_replication_slot(${lit}, 'pgoutput');`
  if (slot === undefined) {
    return [
      {
        level: 'warn',
        code: 'SLOT_MISSING',
        check: 'slot',
        message: `Replication slot ${name} does not exist yet. It keeps WAL from the moment it is created; create it after the publication, as the replication user (inlet setup --apply does both).`,
        fix: create,
      },
    ]
  }
  const findings: Finding[] = []
  const drop = `SELECT pg_drop_replication_slot(${lit});`
  if (slot.slotType !== 'logical' || slot.plugin !== 'pgoutput') {
    findings.push({
      level: 'fail',
      code: 'SLOT_WRONG_PLUGIN',
      check: 'slot',
      message: `Slot ${name} is ${slot.slotType === 'logical' ? `a logical slot using ${slot.plugin}` : 'a physical slot'}; Inlet needs a logical slot with pgoutput.`,
      fix: `${slot.active ? `-- the slot is in use by PID ${slot.activePid}: stop that consumer first, or pick another name with --slot\n` : ''}${drop}\n${create}`,
    })
    return findings
  }
  if (slot.database !== facts.server.database) {
    findings.push({
      level: 'fail',
      code: 'SLOT_OTHER_DATABASE',
      check: 'slot',
      message: `Slot ${name} belongs to database ${slot.database}, not ${facts.server.database}. Slot names are server-wide; each database needs its own slot.`,
      fix: `Use another slot name for this source: --slot inlet_${facts.server.database.toLowerCase().replace(/[^a-z0-9_]/g, '_')} (or slot: in inlet.yaml).`,
    })
    return findings
  }
  if (slot.walStatus === 'lost' || slot.invalidationReason !== null) {
    findings.push({
      level: 'fail',
      code: 'SLOT_LOST',
      check: 'slot',
      message: `Slot ${name} is invalidated (${slot.invalidationReason ?? 'wal_status = lost'}): the WAL it needed was removed, so changes since ${slot.confirmedFlushLsn ?? 'its last position'} cannot be streamed. Drop it, recreate it and re-snapshot every table.`,
      fix: `${drop}\n${create}\n-- then re-snapshot all tables`,
    })
    return findings
  }
  if (slot.temporary) {
    findings.push({ level: 'fail', code: 'SLOT_TEMPORARY', check: 'slot', message: `Slot ${name} is temporary and disappears with the session that made it.`, fix: 'Pick another name with --slot; Inlet creates a permanent slot.' })
  }
  if (slot.twoPhase) {
    findings.push({
      level: 'warn',
      code: 'SLOT_TWO_PHASE',
      check: 'slot',
      message: `Slot ${name} decodes prepared transactions at PREPARE time (two_phase). Inlet expects them at COMMIT PREPARED; recreate it without two-phase.`,
      fix: `${drop}\n${create}`,
    })
  }
  if (slot.walStatus === 'unreserved') {
    findings.push({
      level: 'warn',
      code: 'SLOT_UNRESERVED',
      check: 'slot',
      message: `Slot ${name} has wal_status 'unreserved': its WAL will be removed at the next checkpoint unless the consumer catches up (safe_wal_size ${slot.safeWalSize === null ? 'n/a' : formatBytes(slot.safeWalSize)}).`,
      fix: 'Start the consumer now (inlet run), or raise max_slot_wal_keep_size.',
    })
  }
  if (slot.active) {
    const ours = slot.activeApplication !== null && slot.activeApplication.toLowerCase().startsWith(applicationName.toLowerCase())
    findings.push({
      level: ours ? 'info' : 'warn',
      code: 'SLOT_ACTIVE',
      check: 'slot',
      message: `Slot ${name} is in use by PID ${slot.activePid} (application '${slot.activeApplication ?? 'unknown'}')${ours ? ', an Inlet process' : '; Inlet cannot stream from it until that process lets go'}.`,
      ...(ours ? {} : { fix: `SELECT pg_terminate_backend(${slot.activePid});   -- only if that consumer is stale` }),
      details: { pid: slot.activePid, application: slot.activeApplication },
    })
  }
  if (!findings.some((f) => f.level === 'fail')) {
    findings.push({
      level: 'ok',
      code: 'SLOT_OK',
      check: 'slot',
      message: `Slot ${name}: pgoutput, restart_lsn ${slot.restartLsn}, confirmed_flush_lsn ${slot.confirmedFlushLsn}, retains ${slot.retainedBytes === null ? 'n/a' : formatBytes(slot.retainedBytes)} of WAL, wal_status ${slot.walStatus}${slot.safeWalSize === null ? '' : `, safe_wal_size ${formatBytes(slot.safeWalSize)}`}.`,
      details: {
        restart_lsn: slot.restartLsn,
        confirmed_flush_lsn: slot.confirmedFlushLsn,
        retained_bytes: slot.retainedBytes,
        wal_status: slot.walStatus,
        safe_wal_size: slot.safeWalSize,
        active: slot.active,
        active_pid: slot.activePid,
      },
    })
  }
  return findings
}
