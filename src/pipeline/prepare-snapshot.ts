/**
 * The start of a session: the destination's state and the slot must agree before anything moves.
 * Decides which tables need a copy and creates the slot (first run, or `--resync` after a lost
 * slot) or a temporary slot whose exported snapshot they are copied under.
 *
 *   no checkpoint ─▶ (re)create the slot, export its snapshot: copy every table
 *   checkpoint, slot gone or lost ─▶ INLET-S006, or with --resync: new slot, copy every table beside itself
 *   checkpoint, slot ahead of it ─▶ INLET-S008 (or --resync)
 *   checkpoint, slot fine ─▶ tables not streaming as configured copied under a temporary slot
 */
import type { ResolvedSource } from '../config/load.js'
import type { Destination } from '../destination/destination.js'
import { InletError } from '../errors/inlet-error.js'
import type { SourceState, TableState } from '../model/state.js'
import type { TableTarget } from '../model/table-binding.js'
import type { Logger } from '../observability/log.js'
import type { SqlClient } from '../postgres/connect.js'
import { formatLsn, parseLsn } from '../protocol/lsn.js'
import { readSlots } from '../source/catalog.js'
import type { SlotFacts } from '../source/preflight/facts.js'
import { key } from '../source/selection.js'
import { ReplicationConnection, type CreatedSlot } from '../source/stream/replication-connection.js'
import { temporarySlotName } from './background-copy.js'
import { slotInvalidated } from './slot-errors.js'
import type { SourcePlan } from './source-plan.js'

export interface PreparedSnapshot {
  readonly targets: readonly TableTarget[]
  readonly created: CreatedSlot | undefined
  /**
   * SCD2 start of copied rows: the source's clock read before the slot was created, so never later
   * than the commit time of a transaction after the consistent point (which closes such a version).
   */
  readonly snapshotTime: string
  /** Ends the exporting connection (and with it a temporary slot). */
  readonly release: () => Promise<void>
}

export interface PrepareOptions {
  readonly client: SqlClient
  readonly destination: Destination
  readonly source: ResolvedSource
  readonly plan: SourcePlan
  readonly log: Logger
  readonly resync: boolean
  readonly takeover: boolean
}

export async function prepareSnapshot(options: PrepareOptions): Promise<PreparedSnapshot> {
  const { destination, source, plan } = options
  const replication = await ReplicationConnection.open(source.connection)
  let keepOpen = false
  try {
    const identity = await replication.identifySystem()
    const state = await destination.readSource(source.name)
    if (state !== undefined && (state.systemId !== identity.systemId || state.slot !== source.slot)) {
      throw new InletError('INLET-D004', `The destination holds source "${source.name}" from server ${state.systemId}, slot ${state.slot}; this run reads server ${identity.systemId}, slot ${source.slot}.`)
    }
    const needCopy = await tablesToCopy(destination, source, plan, state)
    let slot = await freeSlot(options, await slotOf(options))
    slot = await reconcileSlot(options, replication, slot, state)
    const fresh = async (targets: readonly TableTarget[], event: string) => {
      const snapshotTime = await sourceClock(options.client)
      const created = await replication.createSlot(source.slot, { snapshot: 'export', failover: source.failover })
      const message = event === 'slot.resync' ? `Recreated slot ${source.slot} at ${formatLsn(created.consistentPoint)}; copying every table again.` : `Created slot ${source.slot} at ${formatLsn(created.consistentPoint)}.`
      options.log.info(event, message, { slot: source.slot, lsn: formatLsn(created.consistentPoint) })
      // Everything before the consistent point is in the copy: the slot may never be found past it unseen.
      await destination.writeSource({ source: source.name, systemId: identity.systemId, slot: source.slot, checkpointLsn: created.consistentPoint })
      keepOpen = true
      return { targets, created, snapshotTime, release: closeOnce(replication) }
    }
    if (state === undefined) {
      // First run into this destination: start the slot fresh, at a snapshot we can copy under.
      if (slot !== undefined) {
        options.log.info('slot.recreate', `Recreating the unused slot ${source.slot} with an exported snapshot (the destination has no checkpoint for it yet).`, { slot: source.slot })
        await replication.dropSlot(source.slot)
      }
      return await fresh(needCopy, 'slot.created')
    }
    if (slot === undefined && options.resync) {
      // The slot is gone with the changes it held: a new slot, and every table copied again beside
      // itself under its snapshot and swapped in (readable throughout), streaming from there.
      for (const t of plan.targets) await destination.markRefresh(source.name, t.table.schema, t.table.name)
      return await fresh(plan.targets, 'slot.resync')
    }
    if (slot === undefined) {
      throw new InletError('INLET-S006', `The slot "${source.slot}" no longer exists, but the destination has a checkpoint (${formatLsn(state.checkpointLsn)}) taken from it.`, {
        fix: 'The changes it held are lost on the server. Recreate the slot and copy every table again (each stays readable until its new copy replaces it): inlet run --resync',
      })
    }
    await ensureFailover(options, replication, slot)
    if (needCopy.length === 0) return { targets: [], created: undefined, snapshotTime: '', release: closeOnce(replication) }
    const snapshotTime = await sourceClock(options.client)
    const created = await replication.createSlot(temporarySlotName(), { snapshot: 'export', temporary: true })
    options.log.info('snapshot.slot', `Copying ${needCopy.length} table(s) under the snapshot of a temporary slot at ${formatLsn(created.consistentPoint)}.`, { lsn: formatLsn(created.consistentPoint) })
    keepOpen = true
    return { targets: needCopy, created, snapshotTime, release: closeOnce(replication) }
  } finally {
    if (!keepOpen) await replication.close()
  }
}

/**
 * Without a checkpoint every table is copied; otherwise those not (or no longer) streaming as
 * configured. (A table marked for a refresh is copied while the stream runs, see BackgroundCopy.)
 */
async function tablesToCopy(destination: Destination, source: ResolvedSource, plan: SourcePlan, state: SourceState | undefined): Promise<TableTarget[]> {
  const states = await destination.readTables(source.name)
  const tableStates = new Map(states.map((s) => [key(s.sourceSchema, s.sourceTable), s]))
  const existing = await destination.tableNames()
  return plan.targets.filter((target) => {
    const s = states.find((s) => s.sourceOid === target.table.oid) ?? tableStates.get(key(target.table.schema, target.table.name))
    // (A state of another OID under the name: that table was dropped and this one created since.)
    const another = s?.sourceOid !== undefined && s.sourceOid !== target.table.oid
    return state === undefined || s === undefined || another || s.phase !== 'streaming' || !sameBinding(s, target) || !existing.has(destination.nameKey(target.destSchema, target.destName))
  })
}

export function sameBinding(state: TableState, target: TableTarget): boolean {
  return state.destSchema === target.destSchema && state.destTable === target.destName && state.scd === target.scd
}

async function slotOf(options: PrepareOptions): Promise<SlotFacts | undefined> {
  return (await readSlots(options.client, options.plan.serverVersionNum)).find((s) => s.name === options.source.slot)
}

/** A slot held by another process: taken over from a lingering Inlet run with --takeover, else INLET-S002. */
async function freeSlot(options: PrepareOptions, found: SlotFacts | undefined): Promise<SlotFacts | undefined> {
  const { source, client, log } = options
  let slot = found
  if (slot !== undefined && slot.active && options.takeover && slot.activeApplication === source.connection.applicationName) {
    // A previous inlet run (killed, or on a host that went away) whose walsender lingers.
    log.warn('slot.takeover', `Ending process ${slot.activePid} (${slot.activeApplication}), which holds slot ${source.slot}.`, { slot: source.slot, pid: slot.activePid })
    await client.query('SELECT pg_terminate_backend($1)', [slot.activePid])
    for (let i = 0; i < 100 && slot?.active === true; i++) {
      await new Promise((r) => setTimeout(r, 100))
      slot = await slotOf(options)
    }
  }
  if (slot !== undefined && slot.active) {
    const ours = slot.activeApplication === source.connection.applicationName
    throw new InletError('INLET-S002', `The replication slot "${source.slot}" is in use by process ${slot.activePid ?? '?'}${slot.activeApplication ? ` (${slot.activeApplication})` : ''}.`, {
      fix: ours ? 'If that is a previous inlet run that no longer runs, take the slot over: inlet run --takeover' : `Stop the other consumer of the slot (process ${slot.activePid ?? '?'}), or give this source another slot: name.`,
      details: { ours },
    })
  }
  return slot
}

/** A slot past the checkpoint or invalidated is refused, or dropped with --resync; a foreign slot is refused. */
async function reconcileSlot(options: PrepareOptions, replication: ReplicationConnection, found: SlotFacts | undefined, state: SourceState | undefined): Promise<SlotFacts | undefined> {
  const { source, resync } = options
  const slot = found
  if (slot === undefined) return undefined
  const confirmed = slot.confirmedFlushLsn == null ? 0n : parseLsn(slot.confirmedFlushLsn)
  if (state !== undefined && state.checkpointLsn > 0n && confirmed > state.checkpointLsn) {
    if (!resync) {
      throw new InletError('INLET-S008', `The slot "${source.slot}" is at ${formatLsn(confirmed)}, past the destination's checkpoint ${formatLsn(state.checkpointLsn)}: it was recreated, or another consumer advanced it. The changes in between are not in the destination and the slot no longer has them.`, {
        fix: 'Copy every table again under a new slot (each stays readable until its new copy replaces it): inlet run --resync. Give each consumer its own slot.',
      })
    }
    await replication.dropSlot(source.slot)
    return undefined
  }
  if (state !== undefined && (slot.walStatus === 'lost' || slot.invalidationReason !== null)) {
    if (!resync) throw slotInvalidated(source.slot, slot)
    await replication.dropSlot(source.slot)
    return undefined
  }
  if (slot.plugin !== 'pgoutput' || slot.database !== source.connection.database) {
    throw new InletError('INLET-S004', `The slot "${source.slot}" exists but is not a pgoutput slot of ${source.connection.database} (plugin ${slot.plugin}, database ${slot.database}).`, { fix: 'Choose another slot: name, or drop it with inlet slots drop NAME if nothing uses it.' })
  }
  return slot
}

async function ensureFailover(options: PrepareOptions, replication: ReplicationConnection, slot: SlotFacts): Promise<void> {
  const { source, plan, log } = options
  if (!source.failover || slot.failover) return
  if (plan.serverVersionNum < 170000) throw new InletError('INLET-C007', `failover: true for source "${source.name}" needs PostgreSQL 17 or later.`, { fix: 'Remove failover: true for this source.' })
  await replication.setFailover(source.slot)
  log.info('slot.failover', `Slot ${source.slot} is now a failover slot (failover: true).`, { slot: source.slot })
}

/** Ends the exporting connection once, however many paths release it. */
function closeOnce(replication: ReplicationConnection): () => Promise<void> {
  let closed: Promise<void> | undefined
  return () => (closed ??= replication.close())
}

async function sourceClock(client: SqlClient): Promise<string> {
  const { rows } = await client.query<{ now: string }>('SELECT clock_timestamp()::text AS now')
  return rows[0]?.now as string
}

