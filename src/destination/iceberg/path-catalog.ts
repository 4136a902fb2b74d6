/**
 * Path-based Iceberg tables on a local file system (`iceberg:file:///PATH`), as Hadoop's catalog
 * and engines' `icebergLocal`/path readers know them: `PATH/SCHEMA/TABLE/metadata/vN.metadata.json`
 * with `version-hint.text`. A commit is the atomic creation of the next version's file: it is
 * written aside, then hard-linked to its name, which fails if that version exists (another
 * writer), so two commits can never both become version N.
 */
import { closeSync, existsSync, fsyncSync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs'
import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import { InletError } from '../../errors/inlet-error.js'
import type { TableMetadata } from './table-metadata.js'

export interface CurrentMetadata {
  readonly version: number
  readonly file: string
  readonly meta: TableMetadata
}

/** A table's directory; a name that would lead outside the warehouse (`..`, a slash) is refused. */
export function tableLocation(warehouse: string, schema: string, table: string): string {
  for (const name of [schema, table]) {
    if (name === '' || name === '.' || name === '..' || /[/\\\0]/.test(name)) {
      throw new InletError('INLET-D003', `The destination table name "${schema}.${table}" cannot be an Iceberg table directory (it holds a slash, a NUL or is "." or "..").`, {
        fix: 'Map the table to another name with as: schema.table in inlet.yaml.',
      })
    }
  }
  return join(warehouse, schema, table)
}

/** Makes a directory's entries (a link, a rename) durable. */
function syncDirectory(dir: string): void {
  const fd = openSync(dir, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

/** Writes a file and syncs it to disk before returning. */
export function writeDurably(path: string, bytes: Buffer | string): void {
  const fd = openSync(path, 'w')
  try {
    writeSync(fd, typeof bytes === 'string' ? Buffer.from(bytes) : bytes)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
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

/** The next version's file written aside (durable, not yet visible): the commit's intent. */
export function prepareVersion(location: string, version: number, meta: TableMetadata): string {
  const dir = join(location, 'metadata')
  mkdirSync(dir, { recursive: true })
  const temp = join(dir, `.v${version}-${randomUUID()}.metadata.json.tmp`)
  writeDurably(temp, JSON.stringify(meta))
  return temp
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
          fix: `Run one inlet run per destination. This run's commit cannot be made: stop the other writer, then copy the table again (inlet refresh ${location.split('/').slice(-2).join('.')}).`,
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
