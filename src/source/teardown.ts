/**
 * `inlet teardown` and `inlet slots`: remove what setup created (the slot only when no process
 * holds it, DDL tracking, the publication), and inspect or drop slots server-wide.
 */
import type { ResolvedConfig, ResolvedSource } from '../config/load.js'
import { InletError } from '../errors/inlet-error.js'
import { connect, type SqlClient } from '../postgres/connect.js'
import { describeConnection, type ConnectionSettings } from '../postgres/connection-settings.js'
import { quoteIdent } from '../postgres/sql-text.js'
import { readDdlTracking, readPublication, readSlots, serverVersionNum } from './catalog.js'
import { ddlTrackingScript } from './ddl-tracking.js'
import type { SlotFacts } from './preflight/facts.js'

export interface TeardownItem {
  readonly what: string
  readonly outcome: 'dropped' | 'absent' | 'would drop'
}

export interface SourceTeardown {
  readonly source: string
  readonly target: string
  readonly items: readonly TeardownItem[]
}

export async function runTeardown(config: ResolvedConfig, options: { readonly execute: boolean }): Promise<SourceTeardown[]> {
  const results: SourceTeardown[] = []
  for (const source of config.sources) results.push(await teardownSource(source, options.execute))
  return results
}

async function teardownSource(source: ResolvedSource, execute: boolean): Promise<SourceTeardown> {
  const client = await connect(source.admin)
  try {
    const versionNum = await serverVersionNum(client)
    const items: TeardownItem[] = []
    const slot = (await readSlots(client, versionNum)).find((s) => s.name === source.slot)
    if (slot !== undefined && slot.database !== null && slot.database !== (await currentDatabase(client))) {
      items.push({ what: `slot ${source.slot} (belongs to database ${slot.database}: left alone)`, outcome: 'absent' })
    } else if (slot !== undefined) {
      if (slot.active) throw slotActiveError(slot)
      if (execute) await dropSlot(client, slot)
      items.push({ what: `replication slot ${source.slot}`, outcome: execute ? 'dropped' : 'would drop' })
    } else {
      items.push({ what: `replication slot ${source.slot}`, outcome: 'absent' })
    }

    const ddl = await readDdlTracking(client, source.publication)
    if (ddl.installedVersion !== undefined || ddl.auditTableExists || ddl.triggers.length > 0) {
      if (execute) await client.query(ddlTrackingScript('uninstall'))
      items.push({ what: 'DDL tracking (event triggers, inlet schema)', outcome: execute ? 'dropped' : 'would drop' })
    } else {
      items.push({ what: 'DDL tracking', outcome: 'absent' })
    }

    if ((await readPublication(client, source.publication, versionNum)) !== undefined) {
      if (execute) await client.query(`DROP PUBLICATION IF EXISTS ${quoteIdent(source.publication)}`)
      items.push({ what: `publication ${source.publication}`, outcome: execute ? 'dropped' : 'would drop' })
    } else {
      items.push({ what: `publication ${source.publication}`, outcome: 'absent' })
    }
    return { source: source.name, target: describeConnection(source.admin), items }
  } finally {
    await client.end().catch(() => undefined)
  }
}

export interface ServerSlots {
  readonly server: string
  readonly slots: readonly SlotFacts[]
}

/** Slots on every distinct server of the config. */
export async function listSlots(config: ResolvedConfig): Promise<ServerSlots[]> {
  const servers = new Map<string, ConnectionSettings>()
  for (const s of config.sources) servers.set(`${s.connection.host}:${s.connection.port}`, s.connection)
  const result: ServerSlots[] = []
  for (const [server, settings] of servers) {
    const client = await connect(settings)
    try {
      result.push({ server, slots: await readSlots(client, await serverVersionNum(client)) })
    } finally {
      await client.end().catch(() => undefined)
    }
  }
  return result
}

/** Drops a slot by name on the first source's server; refuses while a process holds it. */
export async function dropSlotByName(config: ResolvedConfig, name: string): Promise<{ server: string }> {
  const first = config.sources[0]
  if (first === undefined) throw new InletError('INLET-C006', 'No source given.')
  const client = await connect(first.connection)
  try {
    const slot = (await readSlots(client, await serverVersionNum(client))).find((s) => s.name === name)
    if (slot === undefined) {
      throw new InletError('INLET-S003', `No replication slot named ${name} on ${first.connection.host}:${first.connection.port}.`, { fix: 'inlet slots list' })
    }
    if (slot.active) throw slotActiveError(slot)
    await dropSlot(client, slot)
    return { server: `${first.connection.host}:${first.connection.port}` }
  } finally {
    await client.end().catch(() => undefined)
  }
}

async function dropSlot(client: SqlClient, slot: SlotFacts): Promise<void> {
  try {
    await client.query('select pg_drop_replication_slot($1)', [slot.name])
  } catch (cause) {
    if ((cause as { code?: string }).code === '55006') throw slotActiveError(slot, cause)
    throw new InletError('INLET-S001', `Dropping slot ${slot.name} failed.`, { cause, fix: 'Drop it as a superuser or a role with REPLICATION.' })
  }
}

function slotActiveError(slot: SlotFacts, cause?: unknown): InletError {
  return new InletError('INLET-S002', `Replication slot ${slot.name} is in use by PID ${slot.activePid ?? '?'} (application '${slot.activeApplication ?? 'unknown'}'); it is not dropped while a consumer holds it.`, {
    ...(cause === undefined ? {} : { cause }),
    fix: `Stop that consumer, or end it: SELECT pg_terminate_backend(${slot.activePid ?? 'PID'});`,
  })
}

async function currentDatabase(client: SqlClient): Promise<string> {
  const { rows } = await client.query<{ db: string }>('select current_database()::text as db')
  return rows[0]?.db ?? ''
}
