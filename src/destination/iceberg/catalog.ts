/**
 * What an Iceberg catalog does for the destination: tells a table's current metadata, writes the
 * next version where it can be committed, and makes prepared versions current. Two kinds:
 * path-based tables on a file system (path-catalog.ts: the next `vN.metadata.json` created
 * exclusively) and the JDBC catalog in PostgreSQL (jdbc-catalog.ts: `metadata_location` swapped
 * by compare-and-set, every table of a batch in one transaction).
 */
import { InletError } from '../../errors/inlet-error.js'
import type { Storage } from './storage.js'
import type { TableMetadata } from './table-metadata.js'

export interface CurrentMetadata {
  readonly version: number
  /** The location of the metadata file. */
  readonly file: string
  readonly meta: TableMetadata
}

/** A table's next metadata version, written but not yet current: the commit's intent. */
export interface PendingVersion {
  readonly namespace: string
  readonly name: string
  readonly location: string
  readonly version: number
  /** Where the new metadata was written. */
  readonly file: string
  /** The metadata file it replaces ('' for a new table). */
  readonly previous: string
}

export interface Catalog {
  readonly storage: Storage
  /** A short description for status and errors (never a secret). */
  readonly display: string
  current(namespace: string, name: string): Promise<CurrentMetadata | undefined>
  /** Where the metadata of a table's `version` written by `commit` goes. */
  metadataFile(location: string, version: number, commit: string): string
  prepare(namespace: string, name: string, version: number, meta: TableMetadata, previous: string, commit: string): Promise<PendingVersion>
  /** The metadata file a prepared version is once current. */
  publishedFile(pending: PendingVersion): string
  /** Makes prepared versions current: idempotent (run again after a crash), all or none where the catalog can. */
  publish(pending: readonly PendingVersion[]): Promise<void>
  /** The command or SQL that removes a table from the catalog (for a fix a user runs on purpose). */
  dropHint(namespace: string, name: string): string
  close(): Promise<void>
}

/** A table's location under the warehouse; a name that would lead outside it (`..`, a slash) is refused. */
export function tableLocation(storage: Storage, schema: string, table: string): string {
  for (const name of [schema, table]) {
    if (name === '' || name === '.' || name === '..' || /[/\\\0]/.test(name)) {
      throw new InletError('INLET-D003', `The destination table name "${schema}.${table}" cannot be an Iceberg table directory (it holds a slash, a NUL or is "." or "..").`, {
        fix: 'Map the table to another name with as: schema.table in inlet.yaml.',
      })
    }
  }
  return storage.child(storage.root, schema, table)
}
