/**
 * Pure parts of the Iceberg destination's object-storage and maintenance side: the destination
 * URL (parameters, the catalog last, secrets hidden), metadata file versions, when a table is
 * rewritten whole, and which files expired snapshots leave behind (on a real directory).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomUUID } from 'node:crypto'
import { metadataVersion } from '../src/destination/iceberg/jdbc-catalog.js'
import { expireSnapshots, needsRewrite, removeGarbage, rewriteCounters } from '../src/destination/iceberg/maintenance.js'
import { writeManifestList, type ManifestFile } from '../src/destination/iceberg/manifests.js'
import { FileStorage } from '../src/destination/iceberg/storage.js'
import { newMetadata, withSnapshot, type TableMetadata } from '../src/destination/iceberg/table-metadata.js'
import { parseWarehouse } from '../src/destination/iceberg/warehouse-url.js'

test('warehouse URLs: S3 parameters, the catalog last with its own query, the AWS variables, secrets hidden', () => {
  const spec = parseWarehouse('s3://lake/a/b?endpoint=http://127.0.0.1:9000&mirror=/tmp/m&catalog=postgresql://cat:s3cret@db:5433/lake?sslmode=verify-full', {})
  assert.deepEqual(spec.s3, { bucket: 'lake', prefix: 'a/b', endpoint: 'http://127.0.0.1:9000', region: 'us-east-1', pathStyle: true })
  assert.equal(spec.mirrorDir, '/tmp/m')
  assert.equal(spec.catalog?.connection.host, 'db')
  assert.equal(spec.catalog?.connection.port, 5433)
  assert.equal(spec.catalog?.connection.password, 's3cret')
  assert.equal(spec.catalog?.connection.sslmode, 'verify-full')
  assert.equal(spec.catalog?.schema, 'iceberg_catalog')
  assert.doesNotMatch(spec.display, /s3cret/)
  assert.equal(spec.retentionMs, 60 * 60_000)
  const env = parseWarehouse('s3://lake?catalog=postgresql://u@h/d', { AWS_REGION: 'eu-west-1', AWS_ENDPOINT_URL_S3: 'http://minio:9000' })
  assert.deepEqual(env.s3, { bucket: 'lake', prefix: '', endpoint: 'http://minio:9000', region: 'eu-west-1', pathStyle: true })
  assert.equal(parseWarehouse('s3://lake?catalog=postgresql://u@h/d', {}).s3?.pathStyle, false)
  assert.throws(() => parseWarehouse('s3://lake/x', {}), /names no catalog/)
  assert.throws(() => parseWarehouse('s3://Bad_Bucket/x?catalog=postgresql://u@h/d', {}), /not a valid bucket name/)
  assert.throws(() => parseWarehouse('s3://lake/../x?catalog=postgresql://u@h/d', {}), /"\." or "\.\."/)
  assert.throws(() => parseWarehouse('s3://lake?endpont=x&catalog=postgresql://u@h/d', {}), /"endpont" is not a parameter/)
  assert.throws(() => parseWarehouse('file:///w?endpoint=x', {}), /s3:\/\/ warehouses only/)
  assert.equal(parseWarehouse('file:///w?retention_minutes=5', {}).retentionMs, 5 * 60_000)
})

test('metadata file versions, as Iceberg writers name them', () => {
  assert.equal(metadataVersion('s3://b/t/metadata/00042-0b2e8a43-7f4a-4c55-9d8e-1c0ef3b1a2d4.metadata.json'), 42)
  assert.equal(metadataVersion('/w/t/metadata/v7.metadata.json'), 7)
  assert.equal(metadataVersion('/w/t/metadata/odd.metadata.json'), 0)
})

const schema = { type: 'struct' as const, 'schema-id': 0, fields: [{ id: 1, name: 'id', required: false, type: 'long' }] }

function commitTo(meta: TableMetadata, location: string, summary: Record<string, string>, at: number): { meta: TableMetadata; commit: string; list: string } {
  const commit = randomUUID()
  const list = join(location, 'metadata', `snap-1-${commit}.avro`)
  const next = withSnapshot(meta, { id: Math.floor(Math.random() * 2 ** 40), manifestList: list, summary, schema, lastColumnId: 1, previousFile: undefined })
  const snapshots = next.snapshots.map((s, i) => (i === next.snapshots.length - 1 ? { ...s, 'timestamp-ms': at } : s))
  return { meta: { ...next, snapshots }, commit, list }
}

test('a table is rewritten whole once its changes since the last whole write come to a fifth of it', () => {
  let meta = newMetadata('/w/t', schema, 1, {})
  const commit = (added: number, deletes: number, whole = false) => {
    const parent = meta.snapshots.find((s) => s['snapshot-id'] === meta['current-snapshot-id'])
    meta = commitTo(meta, '/w/t', rewriteCounters(parent, whole, added, deletes, deletes > 0 ? 1 : 0), 0).meta
  }
  commit(10_000, 0, true)
  for (let i = 0; i < 3; i++) commit(300, 300)
  assert.equal(needsRewrite(meta), false, '1,800 of 10,000 rows')
  commit(100, 100)
  assert.equal(needsRewrite(meta), true, '2,000 of 10,000 rows')
  // The counters live in the current snapshot: expiring the others changes nothing.
  meta = { ...meta, snapshots: meta.snapshots.filter((s) => s['snapshot-id'] === meta['current-snapshot-id']) }
  assert.equal(needsRewrite(meta), true)
  commit(10_000, 0, true)
  assert.equal(needsRewrite(meta), false, 'counted again from the last whole write')
})

test('expired snapshots leave the metadata; only files no retained snapshot reads are removed', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'inlet-expire-'))
  try {
    const storage = new FileStorage(dir)
    const location = join(dir, 't')
    const now = 10_000_000
    const files = (commit: string) => [join(location, 'data', `${commit}-0`, 'data-x.parquet'), join(location, 'metadata', `${commit}-m0.avro`)]
    const made: Array<{ commit: string; list: string }> = []
    let meta = newMetadata(location, schema, 1, {})
    // An old whole write, two old merge-on-read commits, a newer one: the newer one's list still carries all.
    const manifests: ManifestFile[] = []
    for (const [i, at] of [[0, 0], [1, 1000], [2, 2000], [3, now - 1000]] as const) {
      const c = commitTo(meta, location, i === 0 ? { 'inlet.whole': 'true' } : {}, at)
      meta = c.meta
      made.push(c)
      for (const f of files(c.commit)) {
        mkdirSync(join(f, '..'), { recursive: true })
        writeFileSync(f, 'x')
      }
      manifests.push({ path: join(location, 'metadata', `${c.commit}-m0.avro`), length: 1, content: 0, sequenceNumber: i + 1, minSequenceNumber: i + 1, addedSnapshotId: 1, addedFiles: 1, existingFiles: 0, deletedFiles: 0, addedRows: 1, existingRows: 0, deletedRows: 0 })
      // Commit 1 is a whole write in this story: the lists after it no longer carry commit 0.
      const carried = i >= 1 ? manifests.slice(1) : manifests
      writeFileSync(c.list, await writeManifestList(carried, 1, null, i + 1))
    }
    const { meta: kept, garbage } = await expireSnapshots(meta, 60_000, storage, now)
    assert.equal(kept.snapshots.length, 1)
    assert.equal(kept['current-snapshot-id'], meta['current-snapshot-id'])
    assert.deepEqual(kept['snapshot-log'].map((e) => e['snapshot-id']), [meta['current-snapshot-id']])
    await removeGarbage(storage, garbage)
    for (const f of files(made[0]!.commit)) assert.equal(existsSync(f), false, `${f} (read by no retained snapshot) removed`)
    for (const c of made.slice(1)) for (const f of files(c.commit)) assert.equal(existsSync(f), true, `${f} (carried by the current list) kept`)
    for (const c of made.slice(0, 3)) assert.equal(existsSync(c.list), false, 'expired manifest lists removed')
    assert.equal(existsSync(made[3]!.list), true)
    const none = await expireSnapshots(kept, 60_000, storage, now)
    assert.equal(none.garbage.files.length + none.garbage.prefixes.length, 0)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('a clock stepped back expires no snapshot newer than one kept (its files are carried by the current list)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'inlet-expire-'))
  try {
    const storage = new FileStorage(dir)
    const location = join(dir, 't')
    const now = 10_000_000
    let meta = newMetadata(location, schema, 1, {})
    const made: Array<{ commit: string; list: string }> = []
    const manifests: ManifestFile[] = []
    // The second commit's clock was behind: its timestamp is older than the retention allows.
    for (const [i, at] of [[0, now - 1000], [1, 0], [2, now]] as const) {
      const c = commitTo(meta, location, i === 0 ? { 'inlet.whole': 'true' } : {}, at)
      meta = c.meta
      made.push(c)
      const data = join(location, 'data', `${c.commit}-0`, 'data-x.parquet')
      mkdirSync(join(data, '..'), { recursive: true })
      mkdirSync(join(c.list, '..'), { recursive: true })
      writeFileSync(data, 'x')
      manifests.push({ path: join(location, 'metadata', `${c.commit}-m0.avro`), length: 1, content: 0, sequenceNumber: i + 1, minSequenceNumber: i + 1, addedSnapshotId: 1, addedFiles: 1, existingFiles: 0, deletedFiles: 0, addedRows: 1, existingRows: 0, deletedRows: 0 })
      writeFileSync(c.list, await writeManifestList(manifests, 1, null, i + 1))
    }
    const { meta: kept, garbage } = await expireSnapshots(meta, 60_000, storage, now)
    assert.equal(kept.snapshots.length, 3, 'only snapshots before the first kept one (in commit order) expire')
    assert.equal(garbage.files.length + garbage.prefixes.length, 0)
    for (const c of made) assert.equal(existsSync(join(location, 'data', `${c.commit}-0`, 'data-x.parquet')), true)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
