/**
 * Where a destination's scratch files live: one directory beside it, `.NAME.inlet/`, holding the
 * snapshot's chunks, spilled transactions, copies beside the stream and staged batches. One
 * directory, so that the destination's engine may be allowed to read there and nowhere else
 * (see duckdb/external-access.ts).
 */
import { basename, dirname, join } from 'node:path'

export function scratchRoot(destinationPath: string): string {
  return join(dirname(destinationPath), `.${basename(destinationPath)}.inlet`)
}
