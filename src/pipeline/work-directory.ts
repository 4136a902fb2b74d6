/**
 * Scratch directories of a run, under the destination's scratch root (destination/scratch.ts).
 * Named after the source (names are unique in a config; slot names and table OIDs repeat across
 * servers and databases), so that two sources never share one. A run holds its destination
 * alone, so at its start everything in the scratch root is a dead run's.
 */
import { readdirSync, rmSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { scratchRoot } from '../destination/scratch.js'

/** Scratch directories named `.NAME.inlet-KIND-…` beside the destination, by versions before the scratch root. */
const LEGACY_KINDS = ['snapshot', 'spool', 'copy', 'stage'] as const

export function workDirectory(destinationPath: string, kind: 'snapshot' | 'spool' | 'copy', source: string, ...parts: ReadonlyArray<string | number>): string {
  const safe = source.replace(/[^A-Za-z0-9_-]/g, '_')
  return join(scratchRoot(destinationPath), `${kind}-${[safe, ...parts].join('-')}`)
}

/** Removes the scratch directories a killed run left (SIGKILL, a crash, a lost machine). */
export function removeStaleWorkDirectories(destinationPath: string): void {
  const root = scratchRoot(destinationPath)
  for (const name of entries(root)) rmSync(join(root, name), { recursive: true, force: true })
  const prefix = `.${basename(destinationPath)}.inlet-`
  for (const name of entries(dirname(destinationPath))) {
    if (!name.startsWith(prefix)) continue
    const kind = name.slice(prefix.length).split('-')[0]
    if ((LEGACY_KINDS as readonly string[]).includes(kind ?? '')) rmSync(join(dirname(destinationPath), name), { recursive: true, force: true })
  }
}

function entries(directory: string): string[] {
  try {
    return readdirSync(directory)
  } catch {
    return []
  }
}
