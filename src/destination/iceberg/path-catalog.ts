/**
 * Path-based Iceberg tables on a local file system (`iceberg:file:///PATH`), as Hadoop's catalog
 * and engines' `icebergLocal`/path readers know them: `PATH/SCHEMA/TABLE/metadata/vN.metadata.json`
 * with `version-hint.text`. A commit is the atomic creation of the next version's file: it is
 * written aside, then hard-linked to its name, which fails if that version exists (another
 * writer), so two commits can never both become version N.
 */
import { existsSync, linkSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs'
import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import { InletError } from '../../errors/inlet-error.js'
import { tableLocation, type Catalog, type CurrentMetadata, type PendingVersion } from './catalog.js'
import { FileStorage, syncDirectory, writeDurably } from './storage.js'
import type { TableMetadata } from './table-metadata.js'


export class PathCatalog implements Catalog {
  readonly storage: FileStorage
  readonly display: string

  constructor(warehouse: string) {
    this.storage = new FileStorage(warehouse)
    this.display = `iceberg:file://${warehouse}`
  }

  async current(namespace: string, name: string): Promise<CurrentMetadata | undefined> {
    return readCurrent(tableLocation(this.storage, namespace, name))
  }

  metadataFile(location: string, version: number, commit: string): string {
    return join(location, 'metadata', `.v${version}-${commit}.metadata.json.tmp`)
  }

  async prepare(namespace: string, name: string, version: number, meta: TableMetadata, previous: string, commit: string): Promise<PendingVersion> {
    const location = tableLocation(this.storage, namespace, name)
    const file = this.metadataFile(location, version, commit)
    mkdirSync(join(location, 'metadata'), { recursive: true })
    writeDurably(file, JSON.stringify(meta))
    return { namespace, name, location, version, file, previous }
  }

  dropHint(namespace: string, name: string): string {
    return `rm -r '${tableLocation(this.storage, namespace, name).replace(/'/g, "'\\''")}'`
  }

  publishedFile(pending: PendingVersion): string {
    return join(pending.location, 'metadata', `v${pending.version}.metadata.json`)
  }

  async publish(pending: readonly PendingVersion[]): Promise<void> {
    for (const p of pending) publishVersion(p.location, p.version, p.file)
  }

  async close(): Promise<void> {}
}

/** The table's latest version (the highest vN file; version-hint.text may lag after a crash). */
export function readCurrent(location: string): CurrentMetadata | undefined {
  const dir = join(location, 'metadata')
  if (!existsSync(dir)) return undefined
  let version = 0
  for (const name of readdirSync(dir)) {
    const m = /^v(\d+)\.metadata\.json$/.exec(name)
    if (m !== null) version = Math.max(version, Number(m[1]))
  }
  if (version === 0) return undefined
  const file = join(dir, `v${version}.metadata.json`)
  return { version, file, meta: JSON.parse(readFileSync(file, 'utf8')) as TableMetadata }
}

/**
 * Makes a prepared version current. Run again after a crash, it finds the version made already
 * (the same bytes) and finishes; another writer's version N is a conflict.
 */
export function publishVersion(location: string, version: number, temp: string): void {
  const dir = join(location, 'metadata')
  const target = join(dir, `v${version}.metadata.json`)
  if (existsSync(temp)) {
    try {
      linkSync(temp, target)
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code !== 'EEXIST') {
        throw new InletError('INLET-D002', `The file system of ${location} refused the hard link that commits an Iceberg version (${String(code)}).`, {
          cause: error,
          fix: 'Use a local file system (or one with hard links, such as NFS): the commit relies on an exclusive link.',
        })
      }
      if (!readFileSync(target).equals(readFileSync(temp))) {
        throw new InletError('INLET-D002', `Another writer committed version ${version} of the Iceberg table at ${location}.`, {
          cause: error,
          fix: `Stop the other writer, then write Inlet's copy (equal to the source) over it: inlet compact ${location.split('/').slice(-2).join('.')}`,
          details: { conflict: { namespace: location.split('/').at(-2), name: location.split('/').at(-1) } },
        })
      }
    }
    syncDirectory(dir)
    rmSync(temp, { force: true })
  } else if (!existsSync(target)) {
    throw new InletError('INLET-D002', `The prepared metadata of version ${version} of ${location} is missing.`, { fix: 'Run inlet run --resync for this destination.' })
  }
  const hint = join(dir, `.version-hint-${randomUUID()}.tmp`)
  writeDurably(hint, String(version))
  renameSync(hint, join(dir, 'version-hint.text'))
  syncDirectory(dir)
}

/** Whether a warehouse directory holds path-based tables (`SCHEMA/TABLE/metadata/`). */
export function holdsTables(path: string): boolean {
  const dirs = (p: string) => readdirSync(p, { withFileTypes: true }).filter((e) => e.isDirectory() && e.name !== '_inlet').map((e) => join(p, e.name))
  return dirs(path).some((schema) => dirs(schema).some((table) => existsSync(join(table, 'metadata'))))
}
