/**
 * The status of a destination no run answers for: the file read read-only (or held by some other
 * process) and each source's catalog, for `inlet status` and `inlet ui`.
 */
import type { ResolvedConfig } from '../config/load.js'
import type { Destination } from '../destination/destination.js'
import { destinationHeld, displayOf, openDestination } from '../destination/registry.js'
import { InletError } from '../errors/inlet-error.js'
import { parseConnectionString } from '../postgres/connection-settings.js'
import { buildStatus, type StatusReport, type StatusSource } from './status-report.js'

export async function readStatus(config: ResolvedConfig): Promise<StatusReport> {
  let destination: Destination
  try {
    destination = await openDestination(config.destination, { readOnly: true })
  } catch (error) {
    if (destinationHeld(error)) return buildStatus(config, 'held')
    throw error
  }
  try {
    return await buildStatus(config.sources.length > 0 ? config : { ...config, sources: await recordedSources(destination) }, destination)
  } finally {
    await destination.close()
  }
}

/**
 * No source given: the ones the destination holds, found where their last run recorded them;
 * the password comes from PGPASSWORD or ~/.pgpass as for any run.
 */
async function recordedSources(destination: Destination): Promise<StatusSource[]> {
  const recorded = (await destination.hasState()) ? await destination.listSources() : []
  if (recorded.length === 0) {
    throw new InletError('INLET-C006', `${displayOf(destination.url)} holds no source yet, and none was given.`, {
      fix: 'Run inlet run first, or pass --source postgres://USER@HOST:5432/DB (or --config inlet.yaml).',
    })
  }
  return recorded.map((s) => ({ name: s.source, slot: s.slot, connection: s.connection == null ? undefined : parseConnectionString(s.connection) }))
}
