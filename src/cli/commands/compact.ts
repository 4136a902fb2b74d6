/**
 * `inlet compact`: rewrites Iceberg tables whole from the mirror, so that readers apply no
 * deletes and open few large files. Runs also do it by themselves (see maintenance.ts); this is
 * for a table right now, with no run holding the destination.
 */
import { loadDestination } from '../../config/load.js'
import { destinationHeld, displayOf, openDestination } from '../../destination/registry.js'
import type { Destination } from '../../destination/destination.js'
import { IcebergDestination } from '../../destination/iceberg/iceberg-destination.js'
import { InletError } from '../../errors/inlet-error.js'
import { parseCommandArgs } from '../args.js'
import { out } from '../terminal.js'

export const COMPACT_HELP = `inlet compact [TABLE...]: rewrite Iceberg tables without their deletes and small files

Writes each table (schema.table; all streaming tables when none is named) whole from the local
mirror as one snapshot of large Parquet files, at the position it holds: readers then apply no
equality deletes. Earlier snapshots stay readable until they expire (retention_minutes in the
destination URL, default 60). inlet run does the same by itself once a table's changes since its
last rewrite come to a fifth of it; compact by hand with no run holding the destination.

  --config FILE          config file (default: ./inlet.yaml if present)
  --destination URL      an iceberg: destination (default: the config's)
  --json                 one JSON object per table`

export async function compactCommand(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('compact', args, { config: { type: 'string' }, destination: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } })
  if (values.help === true) {
    out(COMPACT_HELP)
    return 0
  }
  const url = loadDestination(typeof values.config === 'string' ? values.config : undefined, typeof values.destination === 'string' ? values.destination : undefined)
  if (!url.startsWith('iceberg:')) throw new InletError('INLET-C004', `inlet compact rewrites Iceberg tables; ${displayOf(url)} is not an Iceberg destination.`, { fix: 'DuckDB compacts its own file: run CHECKPOINT in it, or nothing at all.' })
  let destination: Destination
  try {
    destination = await openDestination(url)
  } catch (error) {
    if (destinationHeld(error)) throw new InletError('INLET-D001', `An inlet run holds ${displayOf(url)}.`, { cause: error, fix: 'The run compacts its tables by itself; stop it to compact by hand now.' })
    throw error
  }
  try {
    if (!(destination instanceof IcebergDestination)) throw new InletError('INLET-X001', `${displayOf(url)} did not open as an Iceberg destination.`)
    const done = await destination.compact(positionals)
    for (const t of done) out(values.json === true ? JSON.stringify(t) : `${t.table}: ${t.records} rows rewritten in one snapshot (${t.deleteFilesBefore} delete file(s) no longer applied)`)
    if (done.length === 0 && values.json !== true) out('No streaming tables to compact.')
    return 0
  } finally {
    await destination.close()
  }
}
