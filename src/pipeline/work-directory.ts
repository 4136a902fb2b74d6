/**
 * Scratch directories beside the destination file (snapshot chunks, spilled transactions, copies
 * beside the stream). Named after the file and the source (names are unique in a config; slot
 * names and table OIDs repeat across servers and databases), so that two sources, or two runs
 * into two files of one directory, never share one: each deletes its own at start and end.
 */
import { basename, dirname, join } from 'node:path'

export function workDirectory(destinationPath: string, kind: 'snapshot' | 'spool' | 'copy', source: string, ...parts: ReadonlyArray<string | number>): string {
  const safe = source.replace(/[^A-Za-z0-9_-]/g, '_')
  return join(dirname(destinationPath), `.${basename(destinationPath)}.inlet-${kind}-${[safe, ...parts].join('-')}`)
}
