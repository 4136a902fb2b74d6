/**
 * Iceberg table metadata (format v2, the `vN.metadata.json` files): created with a table, and a
 * new version per commit with one more snapshot. Each snapshot's summary carries `inlet.source`
 * and `inlet.lsn`, the position the table holds every change up to, so that any reader (and a
 * restart) knows how far a table is without Inlet's own state.
 */
import { randomInt, randomUUID } from 'node:crypto'
import type { IcebergSchema } from './iceberg-schema.js'

export interface Snapshot {
  readonly 'snapshot-id': number
  readonly 'parent-snapshot-id'?: number
  readonly 'sequence-number': number
  readonly 'timestamp-ms': number
  readonly 'manifest-list': string
  readonly summary: Readonly<Record<string, string>>
  readonly 'schema-id': number
}

export interface TableMetadata {
  readonly 'format-version': 2
  readonly 'table-uuid': string
  readonly location: string
  readonly 'last-sequence-number': number
  readonly 'last-updated-ms': number
  readonly 'last-column-id': number
  readonly 'current-schema-id': number
  readonly schemas: readonly IcebergSchema[]
  readonly 'default-spec-id': 0
  readonly 'partition-specs': ReadonlyArray<{ readonly 'spec-id': 0; readonly fields: readonly [] }>
  readonly 'last-partition-id': number
  readonly 'default-sort-order-id': 0
  readonly 'sort-orders': ReadonlyArray<{ readonly 'order-id': 0; readonly fields: readonly [] }>
  readonly properties: Readonly<Record<string, string>>
  readonly 'current-snapshot-id': number
  readonly snapshots: readonly Snapshot[]
  readonly 'snapshot-log': ReadonlyArray<{ readonly 'snapshot-id': number; readonly 'timestamp-ms': number }>
  readonly 'metadata-log': ReadonlyArray<{ readonly 'metadata-file': string; readonly 'timestamp-ms': number }>
  readonly refs: Readonly<Record<string, { readonly 'snapshot-id': number; readonly type: 'branch' }>>
}

/** Snapshot ids are positive and below 2^53, so that JSON numbers hold them exactly in JavaScript too. */
export function newSnapshotId(): number {
  return randomInt(1, 2 ** 47) * 64 + randomInt(0, 64)
}

export function newMetadata(location: string, schema: IcebergSchema, lastColumnId: number, properties: Record<string, string>): TableMetadata {
  return {
    'format-version': 2,
    'table-uuid': randomUUID(),
    location,
    'last-sequence-number': 0,
    'last-updated-ms': Date.now(),
    'last-column-id': lastColumnId,
    'current-schema-id': schema['schema-id'],
    schemas: [schema],
    'default-spec-id': 0,
    'partition-specs': [{ 'spec-id': 0, fields: [] }],
    'last-partition-id': 999,
    'default-sort-order-id': 0,
    'sort-orders': [{ 'order-id': 0, fields: [] }],
    properties: { 'write.format.default': 'parquet', 'write.delete.mode': 'merge-on-read', 'write.update.mode': 'merge-on-read', ...properties },
    'current-snapshot-id': -1,
    snapshots: [],
    'snapshot-log': [],
    'metadata-log': [],
    refs: {},
  }
}

export function currentSchema(meta: TableMetadata): IcebergSchema {
  return meta.schemas.find((s) => s['schema-id'] === meta['current-schema-id']) as IcebergSchema
}

export function currentSnapshot(meta: TableMetadata): Snapshot | undefined {
  return meta.snapshots.find((s) => s['snapshot-id'] === meta['current-snapshot-id'])
}

/** The LSN recorded by the table's current snapshot (0 before its first). */
export function snapshotLsn(meta: TableMetadata): bigint {
  const lsn = currentSnapshot(meta)?.summary['inlet.lsn']
  return lsn === undefined ? 0n : BigInt(lsn)
}

export interface NewSnapshot {
  readonly id: number
  readonly manifestList: string
  readonly summary: Record<string, string>
  readonly schema: IcebergSchema
  readonly lastColumnId: number
  /** Where the metadata being replaced lives (for the metadata log). */
  readonly previousFile: string | undefined
}

/** The next version of the metadata: the snapshot added and made current, the schema it was written with. */
export function withSnapshot(meta: TableMetadata, next: NewSnapshot): TableMetadata {
  const now = Date.now()
  const known = meta.schemas.find((s) => s['schema-id'] === next.schema['schema-id'])
  const schemas = known === undefined ? [...meta.schemas, next.schema] : meta.schemas
  const sequence = meta['last-sequence-number'] + 1
  const parent = meta['current-snapshot-id'] === -1 ? undefined : meta['current-snapshot-id']
  const snapshot: Snapshot = {
    'snapshot-id': next.id,
    ...(parent === undefined ? {} : { 'parent-snapshot-id': parent }),
    'sequence-number': sequence,
    'timestamp-ms': now,
    'manifest-list': next.manifestList,
    summary: next.summary,
    'schema-id': next.schema['schema-id'],
  }
  return {
    ...meta,
    'last-sequence-number': sequence,
    'last-updated-ms': now,
    'last-column-id': Math.max(meta['last-column-id'], next.lastColumnId),
    'current-schema-id': next.schema['schema-id'],
    schemas,
    'current-snapshot-id': next.id,
    snapshots: [...meta.snapshots, snapshot],
    'snapshot-log': [...meta['snapshot-log'], { 'snapshot-id': next.id, 'timestamp-ms': now }],
    // The last 100 versions, as Iceberg's write.metadata.previous-versions-max keeps by default.
    'metadata-log': next.previousFile === undefined ? meta['metadata-log'] : [...meta['metadata-log'], { 'metadata-file': next.previousFile, 'timestamp-ms': meta['last-updated-ms'] }].slice(-100),
    refs: { ...meta.refs, main: { 'snapshot-id': next.id, type: 'branch' } },
  }
}
