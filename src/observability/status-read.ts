/**
 * The status of a destination no run answers for: the file read read-only (or held by some other
 * process) and each source's catalog, for `inlet status` and `inlet ui`.
 */
import type { ResolvedConfig } from '../config/load.js'
import type { Destination } from '../destination/destination.js'
import { destinationHeld, displayOf, openDestination } from '../destination/registry.js'
import { InletError } from '../errors/inlet-error.js'
import { parseConnectionString } from '../postgres/connection-settings.js'
import { buildStatus, readSourceSide, type SourceSide, type StatusReport, type StatusSource } from './status-report.js'

export async function readStatus(config: ResolvedConfig): Promise<StatusReport> {
  // No source given: the ones the destination recorded (read, and the file let go at once).
  const sources = config.sources.length > 0 ? config.sources : await withReadOnly(config.destination, recordedSources)
  if (sources === 'held') return buildStatus(config, 'held')
  // The sources first, the file after: it is held only while it is read (a run may be starting).
  const sides = new Map<string, SourceSide>()
  for (const source of sources) sides.set(source.name, await readSourceSide(source))
  const report = await withReadOnly(config.destination, (destination) => buildStatus({ ...config, sources }, destination, undefined, sides))
  return report === 'held' ? buildStatus({ ...config, sources }, 'held', undefined, sides) : report
}

/** The destination opened read-only for `work` and closed after it; 'held' when another process holds it. */
export async function withReadOnly<T>(url: string, work: (destination: Destination) => Promise<T>): Promise<T | 'held'> {
  let destination: Destination
  try {
    destination = await openDestination(url, { readOnly: true })
  } catch (error) {
    if (destinationHeld(error)) return 'held'
    throw error
  }
  try {
    return await work(destination)
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
