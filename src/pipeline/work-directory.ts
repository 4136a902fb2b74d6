/**
 * Scratch directories beside the destination (snapshot chunks, spilled transactions, copies
 * beside the stream, staged batches). Named after the destination and the source (names are
 * unique in a config; slot names and table OIDs repeat across servers and databases), so that two
 * sources, or two runs into two destinations of one directory, never share one. A run holds its
 * destination alone, so at its start every scratch directory named after it is a dead run's.
 */
import { readdirSync, rmSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'

const KINDS = ['snapshot', 'spool', 'copy', 'stage'] as const

export function workDirectory(destinationPath: string, kind: 'snapshot' | 'spool' | 'copy', source: string, ...parts: ReadonlyArray<string | number>): string {
  const safe = source.replace(/[^A-Za-z0-9_-]/g, '_')
  return join(dirname(destinationPath), `.${basename(destinationPath)}.inlet-${kind}-${[safe, ...parts].join('-')}`)
}

/** Removes the scratch directories a killed run left beside the destination. */
export function removeStaleWorkDirectories(destinationPath: string): void {
  const prefix = `.${basename(destinationPath)}.inlet-`
  let names: string[]
  try {
    names = readdirSync(dirname(destinationPath))
  } catch {
    return
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue
    const kind = name.slice(prefix.length).split('-')[0]
    if ((KINDS as readonly string[]).includes(kind ?? '')) rmSync(join(dirname(destinationPath), name), { recursive: true, force: true })
  }
}
