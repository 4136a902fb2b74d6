/**
 * The files of Iceberg commits that may never become current: a commit writes its data files,
 * manifests and metadata before the mirror's transaction commits, so a crash, a kill or a failed
 * batch (one widened and applied again) can leave files that nothing references. On object
 * storage such a metadata file is worse than waste: readers that find tables by path (ClickHouse's
 * icebergS3) take the highest version they see.
 *
 * So each commit first records, in a small local file beside the mirror (synced to disk before
 * any upload), the names its files will have: all are named after the commit. Afterwards a
 * journal is settled: kept while its version is pending, forgotten once a table's snapshots
 * include the commit, its files removed otherwise. Settled at every open for all journals, and by
 * each writer for its own failed attempts.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import type { Catalog } from './catalog.js'
import { readManifestList } from './manifests.js'
import { currentSnapshot } from './table-metadata.js'
import { syncDirectory, writeDurably } from './storage.js'

export interface JournalEntry {
  readonly namespace: string
  readonly name: string
  readonly commit: string
  /** Directories (prefixes) all of whose files are the commit's. */
  readonly prefixes: readonly string[]
  /** Single files that may exist. */
  readonly files: readonly string[]
}

export class CommitJournal {
  constructor(private readonly dir: string) {}

  record(entry: JournalEntry): void {
    mkdirSync(this.dir, { recursive: true })
    const temp = join(this.dir, `.${entry.commit}.tmp`)
    writeDurably(temp, JSON.stringify(entry))
    renameSync(temp, this.path(entry.commit))
    syncDirectory(this.dir)
  }

  forget(commit: string): void {
    rmSync(this.path(commit), { force: true })
  }

  all(): JournalEntry[] {
    if (!existsSync(this.dir)) return []
    return readdirSync(this.dir)
      .filter((n) => n.endsWith('.json'))
      .map((n) => JSON.parse(readFileSync(join(this.dir, n), 'utf8')) as JournalEntry)
  }

  /**
   * Forgets the entries whose commit is in its table's snapshots, removes the files of those
   * neither current nor pending (`pending`: the metadata files the mirror still has to publish).
   * Returns the commits settled (a pending one stays in the journal).
   */
  async settle(entries: readonly JournalEntry[], catalog: Catalog, pending: readonly string[]): Promise<Set<string>> {
    const settled = new Set<string>()
    for (const e of entries) {
      if (pending.some((file) => file.includes(e.commit))) continue
      if (!(await madeCurrent(e, catalog))) {
        const found = [...e.files]
        for (const prefix of e.prefixes) found.push(...(await catalog.storage.list(prefix)))
        await catalog.storage.remove(found)
        for (const prefix of e.prefixes) if (catalog.storage.local) rmSync(prefix, { recursive: true, force: true })
      }
      this.forget(e.commit)
      settled.add(e.commit)
    }
    return settled
  }

  private path(commit: string): string {
    return join(this.dir, `${commit}.json`)
  }
}

/**
 * Whether a commit's files are read: its snapshot is the table's, its metadata file in the log
 * (after expiry), or its manifests carried by the current snapshot (never removed while they are).
 */
async function madeCurrent(e: JournalEntry, catalog: Catalog): Promise<boolean> {
  const current = await catalog.current(e.namespace, e.name)
  if (current === undefined) return false
  if (current.file.includes(e.commit) || current.meta.snapshots.some((s) => s['manifest-list'].includes(e.commit)) || current.meta['metadata-log'].some((m) => m['metadata-file'].includes(e.commit))) return true
  const snapshot = currentSnapshot(current.meta)
  const list = snapshot === undefined ? undefined : await catalog.storage.read(snapshot['manifest-list'])
  // A list that cannot be read: keep the files (waste at worst).
  if (snapshot !== undefined && list === undefined) return true
  return list !== undefined && (await readManifestList(list)).some((m) => m.path.includes(e.commit))
}
