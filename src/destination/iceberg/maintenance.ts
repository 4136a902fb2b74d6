/**
 * Keeping Iceberg tables cheap to read and to store, from what the metadata says:
 *
 * - **Rewrite** (compaction): merge-on-read commits add small data files and equality deletes that
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
 * `snap-<id>-<commit>.avro`), so which commits a snapshot still needs follows from one manifest
 * list, without reading manifests.
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

/** The snapshots since the table's last whole write, newest first (the whole write last). */
function sinceWhole(meta: TableMetadata): Snapshot[] {
  const byId = new Map(meta.snapshots.map((s) => [s['snapshot-id'], s]))
  const chain: Snapshot[] = []
  let s = byId.get(meta['current-snapshot-id'])
  while (s !== undefined) {
    chain.push(s)
    if (s.summary[WHOLE] === 'true') break
    s = s['parent-snapshot-id'] === undefined ? undefined : byId.get(s['parent-snapshot-id'])
  }
  return chain
}

/** Whether the next commit should write the table whole (see the file's comment). */
export function needsRewrite(meta: TableMetadata): boolean {
  const chain = sinceWhole(meta)
  const whole = chain.at(-1)
  const commits = chain.length - 1
  if (whole === undefined || commits < 2) return false
  const rows = Number(whole.summary['added-records'] ?? '0')
  let touched = 0
  for (const s of chain.slice(0, -1)) touched += Number(s.summary['added-records'] ?? '0') + Number(s.summary['added-equality-deletes'] ?? '0')
  return touched >= Math.max(rows, 1000) / 5 || (commits >= 200 && rows <= 1_000_000)
}

/**
 * `meta` without its snapshots older than `retentionMs` (the current one always stays), and what
 * they alone referenced.
 */
export async function expireSnapshots(meta: TableMetadata, retentionMs: number, storage: Storage, now = Date.now()): Promise<{ meta: TableMetadata; garbage: Garbage }> {
  const current = meta['current-snapshot-id']
  const keep = (s: Snapshot) => s['snapshot-id'] === current || s['timestamp-ms'] >= now - retentionMs
  const expired = meta.snapshots.filter((s) => !keep(s))
  if (expired.length === 0) return { meta, garbage: { files: [], prefixes: [] } }
  const retained = meta.snapshots.filter(keep)
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
  const files: string[] = []
  const prefixes: string[] = []
  for (const s of expired) {
    const list = s['manifest-list']
    files.push(list)
    const c = LIST_COMMIT.exec(list)?.[1]
    if (c === undefined || needed.has(c)) continue
    const metadataDir = list.slice(0, list.length - list.split('/').at(-1)!.length)
    const tableDir = metadataDir.replace(/metadata\/$/, '')
    files.push(`${metadataDir}${c}-m0.avro`, `${metadataDir}${c}-m1.avro`)
    prefixes.push(storage.child(tableDir, 'data', `${c}-0`), storage.child(tableDir, 'data', `${c}-2`))
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

/** Delete files added since the table's last whole write, up to `snapshot`. */
export function deleteFilesSinceWhole(meta: TableMetadata, snapshot: Snapshot | undefined): number {
  const byId = new Map(meta.snapshots.map((s) => [s['snapshot-id'], s]))
  let n = 0
  for (let s = snapshot; s !== undefined && s.summary[WHOLE] !== 'true'; s = s['parent-snapshot-id'] === undefined ? undefined : byId.get(s['parent-snapshot-id'])) n += Number(s.summary['added-delete-files'] ?? '0')
  return n
}
