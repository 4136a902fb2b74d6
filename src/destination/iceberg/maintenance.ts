/**
 * Keeping Iceberg tables cheap to read and to store, from what the metadata says:
 *
 * - **Rewrite** (compaction): merge-on-read commits add small data files and position deletes that
 *   every reader must apply. Once the rows a table's commits touched since its last whole write
 *   come to a fifth of the table (or, for tables up to a million rows, after 200 commits), the next
 *   commit writes the table whole from the mirror instead: one snapshot of large files without
 *   deletes. The cost stays proportional to the changes (at most about five rows written per row
 *   changed), never to the number of commits alone on a large table.
 * - **Expiry**: snapshots older than the retention (60 minutes by default) leave the metadata, and
 *   the files only they reference go once the version without them is current. The current
 *   snapshot is never expired, so the table's `inlet.lsn` (the checkpoint) always stays.
 *
 * Every file Inlet writes is named after its commit (`data/<commit>-0/`, `<commit>-m0.avro`,
 * `snap-<id>-<commit>.avro`), so which commits a snapshot reads follows from its manifest list,
 * without reading manifests.
 */
import { rmSync } from 'node:fs'
import type { Storage } from './storage.js'
import { readManifestList } from './manifests.js'
import type { Snapshot, TableMetadata } from './table-metadata.js'

/** Files to remove once a version is current: single files, and prefixes all of whose files go. */
export interface Garbage {
  readonly files: readonly string[]
  readonly prefixes: readonly string[]
}

export const WHOLE = 'inlet.whole'
const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'
const LIST_COMMIT = new RegExp(`snap-\\d+-(${UUID})\\.avro$`)
const MANIFEST_COMMIT = new RegExp(`(${UUID})-m[01]\\.avro$`)

const TOUCHED = 'inlet.touched-since-whole'
const COMMITS = 'inlet.commits-since-whole'
const ROWS = 'inlet.rows-at-whole'
const DELETE_FILES = 'inlet.delete-files-since-whole'

/**
 * The counters a new snapshot's summary carries (they survive expiry, which the snapshots
 * themselves do not): rows touched and commits since the last whole write, rows it wrote.
 */
export function rewriteCounters(parent: Snapshot | undefined, whole: boolean, added: number, deletes: number, deleteFiles: number): Record<string, string> {
  if (whole || parent === undefined) return { [WHOLE]: 'true', [TOUCHED]: '0', [COMMITS]: '0', [ROWS]: String(added), [DELETE_FILES]: '0' }
  const n = (k: string) => Number(parent.summary[k] ?? '0')
  return { [TOUCHED]: String(n(TOUCHED) + added + deletes), [COMMITS]: String(n(COMMITS) + 1), [ROWS]: String(n(ROWS)), [DELETE_FILES]: String(n(DELETE_FILES) + deleteFiles) }
}

/** Whether the next commit should write the table whole (see the file's comment). */
export function needsRewrite(meta: TableMetadata): boolean {
  const current = meta.snapshots.find((s) => s['snapshot-id'] === meta['current-snapshot-id'])
  if (current === undefined) return false
  const n = (k: string) => Number(current.summary[k] ?? '0')
  if (n(COMMITS) < 2) return false
  return n(TOUCHED) >= Math.max(n(ROWS), 1000) / 5 || (n(COMMITS) >= 200 && n(ROWS) <= 1_000_000)
}

/**
 * `meta` without its snapshots older than `retentionMs` (the current one always stays), and what
 * they alone referenced.
 */
export async function expireSnapshots(meta: TableMetadata, retentionMs: number, storage: Storage, now = Date.now()): Promise<{ meta: TableMetadata; garbage: Garbage }> {
  const current = meta['current-snapshot-id']
  const keep = (s: Snapshot) => s['snapshot-id'] === current || s['timestamp-ms'] >= now - retentionMs
  // Only the snapshots before the first one kept, in commit order: a clock stepped back must not
  // expire a newer snapshot whose files an older kept one does not name.
  const ordered = [...meta.snapshots].sort((a, b) => a['sequence-number'] - b['sequence-number'])
  const expired = ordered.slice(0, Math.max(0, ordered.findIndex(keep)))
  if (expired.length === 0) return { meta, garbage: { files: [], prefixes: [] } }
  const retained = ordered.slice(expired.length)
  const needed = new Set<string>()
  for (const s of retained) {
    const c = LIST_COMMIT.exec(s['manifest-list'])?.[1]
    if (c !== undefined) needed.add(c)
  }
  // Every retained snapshot's list holds the oldest retained one's manifests or later ones (a list
  // carries its parent's manifests until a whole write), so that one list names what older commits are still read.
  const oldest = retained.reduce((a, b) => (a['sequence-number'] <= b['sequence-number'] ? a : b))
  const bytes = await storage.read(oldest['manifest-list'])
  if (bytes === undefined) return { meta, garbage: { files: [], prefixes: [] } }
  for (const m of await readManifestList(bytes)) {
    const c = MANIFEST_COMMIT.exec(m.path)?.[1]
    if (c !== undefined) needed.add(c)
  }
  // The commits an expired snapshot read: its own and those its list carries. Their files go once
  // no retained snapshot reads them (the last snapshot to carry a commit may expire long after it).
  const files: string[] = []
  const prefixes: string[] = []
  const dropped = new Map<string, string>()
  for (const s of expired) {
    const list = s['manifest-list']
    files.push(list)
    const tableDir = list.slice(0, list.length - (list.split('/').at(-1) as string).length).replace(/metadata\/$/, '')
    const own = LIST_COMMIT.exec(list)?.[1]
    if (own !== undefined) dropped.set(own, tableDir)
    const listed = await storage.read(list)
    if (listed === undefined) continue
    for (const m of await readManifestList(listed)) {
      const c = MANIFEST_COMMIT.exec(m.path)?.[1]
      if (c !== undefined) dropped.set(c, tableDir)
    }
  }
  for (const [c, tableDir] of dropped) {
    if (needed.has(c)) continue
    files.push(storage.child(tableDir, 'metadata', `${c}-m0.avro`), storage.child(tableDir, 'metadata', `${c}-m1.avro`))
    // -1 position deletes; -2 equality deletes, written before Inlet kept a row index.
    prefixes.push(...[0, 1, 2].map((content) => storage.child(tableDir, 'data', `${c}-${content}`)))
  }
  const gone = new Set(expired.map((s) => s['snapshot-id']))
  return {
    meta: { ...meta, snapshots: retained, 'snapshot-log': meta['snapshot-log'].filter((e) => !gone.has(e['snapshot-id'])) },
    garbage: { files, prefixes },
  }
}

/** Removes garbage (again after a crash: removing what is gone is fine). */
export async function removeGarbage(storage: Storage, garbage: Garbage): Promise<void> {
  const found = [...garbage.files]
  for (const p of garbage.prefixes) found.push(...(await storage.list(p)))
  if (found.length > 0) await storage.remove(found)
  if (storage.local) for (const p of garbage.prefixes) rmSync(p, { recursive: true, force: true })
}

/** What `inlet compact` did to a table. */
export interface CompactedTable {
  readonly table: string
  readonly records: number
  /** Delete files its readers applied before. */
  readonly deleteFilesBefore: number
}

/** Delete files readers of the table's current snapshot apply (added since its last whole write). */
export function deleteFilesSinceWhole(snapshot: Snapshot | undefined): number {
  return Number(snapshot?.summary[DELETE_FILES] ?? '0')
}
