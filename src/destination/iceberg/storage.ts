/**
 * Where an Iceberg warehouse's files live: a local directory (`iceberg:file:///PATH`) or an S3
 * bucket (`iceberg:s3://BUCKET/PREFIX`, s3-storage.ts). Files are named by location: an absolute
 * path on the file system, an `s3://` URI on object storage. Parquet files are written by DuckDB
 * into a local directory first (`localDirectory`): on the file system that is their place, on S3
 * they are uploaded from there and removed.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from 'node:fs'
import { dirname, join } from 'node:path'

export interface Storage {
  /** The warehouse's root location. */
  readonly root: string
  /** Whether locations are local paths (DuckDB and the catalog work on them in place). */
  readonly local: boolean
  /** A location under another (`/`-joined). */
  child(location: string, ...names: string[]): string
  /** Writes a whole object; durable when it returns. */
  write(location: string, bytes: Buffer | string): Promise<void>
  /** Reads a whole object; undefined when there is none. */
  read(location: string): Promise<Buffer | undefined>
  /** Moves a local file written by DuckDB to `location` (on the file system it is already there). */
  upload(file: string, location: string): Promise<void>
  /** The locations of the objects under `prefix` (recursively). */
  list(prefix: string): Promise<string[]>
  /** Removes objects (those already gone are fine). */
  remove(locations: readonly string[]): Promise<void>
  close(): void
}

/** Makes a directory's entries (a link, a rename) durable. */
export function syncDirectory(dir: string): void {
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

export class FileStorage implements Storage {
  readonly local = true
  constructor(readonly root: string) {}

  child(location: string, ...names: string[]): string {
    return join(location, ...names)
  }

  async write(location: string, bytes: Buffer | string): Promise<void> {
    mkdirSync(dirname(location), { recursive: true })
    writeDurably(location, bytes)
  }

  async read(location: string): Promise<Buffer | undefined> {
    return existsSync(location) ? readFileSync(location) : undefined
  }

  async upload(file: string, location: string): Promise<void> {
    if (file !== location) throw new Error(`a local file is written in place (${file} is not ${location})`)
  }

  async list(prefix: string): Promise<string[]> {
    if (!existsSync(prefix)) return []
    return (readdirSync(prefix, { recursive: true, withFileTypes: true }) as import('node:fs').Dirent[])
      .filter((e) => e.isFile())
      .map((e) => join(e.parentPath, e.name))
  }

  async remove(locations: readonly string[]): Promise<void> {
    for (const l of locations) rmSync(l, { force: true })
  }

  close(): void {}
}
