/**
 * Pure parts of the Iceberg destination: the bounds of the manifests (Iceberg's single-value
 * binary forms), field ids across schema changes, manifest lists written and read back, and the
 * row identities of the row index (in DuckDB).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { DuckDBInstance } from '@duckdb/node-api'
import { rowIdentity } from '../src/destination/iceberg/row-index.js'
import { bound } from '../src/destination/iceberg/data-files.js'
import { tableLocation } from '../src/destination/iceberg/catalog.js'
import { FileStorage } from '../src/destination/iceberg/storage.js'
import { evolveSchema, fieldIds, icebergTypeName, writtenType } from '../src/destination/iceberg/iceberg-schema.js'
import { readManifestList, writeManifest, writeManifestList } from '../src/destination/iceberg/manifests.js'

test('bounds in Iceberg binary form, none where the text is not exact', () => {
  assert.deepEqual(bound('int', '-2'), Buffer.from([0xfe, 0xff, 0xff, 0xff]))
  assert.deepEqual(bound('long', '1'), Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]))
  assert.deepEqual(bound('date', '1970-01-02'), Buffer.from([1, 0, 0, 0]))
  assert.deepEqual(bound('string', 'abc'), Buffer.from('abc'))
  assert.equal(bound('string', 'x'.repeat(40)), undefined)
  assert.deepEqual(bound('decimal(10, 2)', '1.50'), Buffer.from([0x00, 0x96]))
  assert.deepEqual(bound('decimal(10, 2)', '-1.5'), Buffer.from([0xff, 0x6a]))
  assert.deepEqual(bound('uuid', '00000000-0000-0000-0000-0000000000ff'), Buffer.from('000000000000000000000000000000ff', 'hex'))
  assert.equal(bound('date', '0044-03-15 (BC)'), undefined)
  // Years 1-99 (Date.UTC would read them as 1901-1999).
  assert.equal(bound('date', '0001-01-01')?.readInt32LE(), -719162)
  assert.equal(bound('date', '0099-12-31')?.readInt32LE(), -683004)
  // Timestamps and times in microseconds (statistics print timestamptz in UTC), floats in IEEE form.
  const long = (b: Buffer | undefined) => b?.readBigInt64LE()
  assert.equal(long(bound('timestamp', '1970-01-01 00:00:01.5')), 1_500_000n)
  assert.equal(long(bound('timestamp', '1969-12-31 23:59:59')), -1_000_000n)
  assert.equal(long(bound('timestamptz', '2026-12-03 15:53:59+00')), 1_796_313_239_000_000n)
  assert.equal(long(bound('timestamptz', '1970-01-01 05:45:00+05:45')), 0n)
  assert.equal(long(bound('timestamptz', '1969-12-31 21:30:00-02:30')), 0n)
  assert.equal(long(bound('timestamp', '0001-01-01 00:00:00')), -62_135_596_800_000_000n)
  assert.equal(bound('timestamp', 'infinity'), undefined)
  assert.equal(bound('timestamp', '2026-12-03 15:53:59+00'), undefined)
  assert.equal(bound('timestamptz', '2026-12-03 15:53:59'), undefined)
  assert.equal(long(bound('time', '00:00:01.000001')), 1_000_001n)
  assert.equal(long(bound('time', '23:59:59.999999')), 86_399_999_999n)
  assert.equal(bound('double', '1.5')?.readDoubleLE(), 1.5)
  assert.equal(bound('double', '-2.5e-300')?.readDoubleLE(), -2.5e-300)
  assert.equal(bound('double', '-inf')?.readDoubleLE(), -Infinity)
  assert.equal(bound('float', '1.1')?.readFloatLE(), Math.fround(1.1))
  assert.equal(bound('float', '3.4e+38')?.readFloatLE(), Math.fround(3.4e38))
  assert.equal(bound('double', 'nan'), undefined)
})

test('field ids: kept by renames and promotions, new for other type changes and new columns', () => {
  const first = evolveSchema(undefined, [{ name: 'id', type: 'INTEGER' }, { name: 'tags', type: 'VARCHAR[]' }, { name: 'f', type: 'FLOAT' }], 0)
  assert.deepEqual(first.schema.fields.map((f) => f.id), [1, 2, 4])
  assert.deepEqual(first.schema.fields[1]?.type, { type: 'list', 'element-id': 3, element: 'string', 'element-required': false })
  const same = evolveSchema(first.schema, [{ name: 'id', type: 'INTEGER' }, { name: 'tags', type: 'VARCHAR[]' }, { name: 'f', type: 'FLOAT' }], first.lastId)
  assert.equal(same.schema['schema-id'], first.schema['schema-id'])
  const next = evolveSchema(first.schema, [{ name: 'id', type: 'BIGINT' }, { name: 'labels', type: 'VARCHAR[]' }, { name: 'f', type: 'VARCHAR' }, { name: 'added', type: 'DATE' }], first.lastId, new Map([['labels', 'tags']]))
  assert.equal(next.schema['schema-id'], 1)
  assert.deepEqual(next.schema.fields.map((f) => [f.name, f.id, f.type]), [
    ['id', 1, 'long'],
    ['labels', 2, { type: 'list', 'element-id': 3, element: 'string', 'element-required': false }],
    ['f', 5, 'string'],
    ['added', 6, 'date'],
  ])
  assert.equal(fieldIds(next.schema), '{"id": 1, "labels": {__duckdb_field_id: 2, element: 3}, "f": 5, "added": 6}')
  assert.equal(writtenType('UINTEGER'), 'BIGINT')
  assert.equal(writtenType('SMALLINT[][]'), 'INTEGER[][]')
  assert.equal(writtenType('JSON'), 'VARCHAR')
})

test('manifest lists read back as written; an empty one keeps its header', async () => {
  const m = { path: '/w/t/metadata/a-m0.avro', length: 123, content: 0 as const, sequenceNumber: 2, minSequenceNumber: 2, addedSnapshotId: 77, addedFiles: 1, existingFiles: 0, deletedFiles: 0, addedRows: 10, existingRows: 0, deletedRows: 0 }
  assert.deepEqual(await readManifestList(await writeManifestList([m, { ...m, content: 1, path: '/w/t/metadata/b-m1.avro' }], 77, 76, 2)), [m, { ...m, content: 1, path: '/w/t/metadata/b-m1.avro' }])
  const empty = await writeManifestList([], 78, 77, 3)
  assert.equal(empty.subarray(0, 4).toString('latin1'), 'Obj\x01')
  assert.deepEqual(await readManifestList(empty), [])
  const manifest = await writeManifest([{ status: 1, snapshotId: 77, sequenceNumber: null, fileSequenceNumber: null, file: { content: 2, path: '/w/t/data/d.parquet', records: 3, bytes: 400, columnSizes: new Map([[1, 50]]), valueCounts: new Map([[1, 3]]), nullCounts: new Map([[1, 0]]), lowerBounds: new Map([[1, Buffer.from([1, 0, 0, 0])]]), upperBounds: new Map([[1, Buffer.from([9, 0, 0, 0])]]), equalityIds: [1] } }], 1, '{}', 0)
  // The field ids readers resolve by are in the file's schema.
  const header = manifest.toString('latin1')
  for (const id of ['"field-id":135', '"element-id":136', '"field-id":117', '"field-id":2']) assert.ok(header.includes(id), id)
  assert.ok(header.includes('"content"') && header.includes('deletes'))
})

test('table names that would leave the warehouse are refused', () => {
  assert.equal(tableLocation(new FileStorage('/w'), 'public', 'orders'), '/w/public/orders')
  for (const [schema, table] of [['..', 't'], ['public', '../x'], ['public', 'a/b'], ['public', 'a\\b'], ['public', '.'], ['public', 'a\0b']]) {
    assert.throws(() => tableLocation(new FileStorage('/w'), schema as string, table as string), /INLET-D003|cannot be an Iceberg table directory/)
  }
})

test('row identities: the same for the same values in any session time zone, apart for values that print alike', async () => {
  const instance = await DuckDBInstance.create(':memory:')
  const duck = await instance.connect()
  try {
    const columns = [{ name: 'a', type: 'VARCHAR' }, { name: 'b', type: 'VARCHAR' }, { name: 't', type: 'TIMESTAMP WITH TIME ZONE' }, { name: 'l', type: 'TIMESTAMP WITH TIME ZONE[]' }]
    const id = async (zone: string, row: string) => {
      await duck.run(`SET TimeZone = '${zone}'`)
      const rows = (await (await duck.runAndReadAll(`SELECT CAST(${rowIdentity(columns, 'r')} AS VARCHAR) AS id FROM (SELECT ${row}) r`)).getRowObjectsJS()) as Array<{ id: string }>
      return rows[0]?.id
    }
    const row = (a: string, b: string) => `${a} AS a, ${b} AS b, TIMESTAMPTZ '2024-03-01 12:00:00+00' AS t, [TIMESTAMPTZ '1999-12-31 23:59:59.5+00'] AS l`
    const utc = await id('UTC', row(`'x'`, `'y'`))
    assert.equal(await id('Asia/Kathmandu', row(`'x'`, `'y'`)), utc, 'time zone of the session')
    assert.notEqual(await id('UTC', row(`'a, b'`, `'c'`)), await id('UTC', row(`'a'`, `'b, c'`)))
    assert.notEqual(await id('UTC', row(`NULL`, `'~'`)), await id('UTC', row(`'~'`, `NULL`)))
    assert.notEqual(await id('UTC', row(`''`, `NULL`)), await id('UTC', row(`NULL`, `''`)))
    // ±infinity and NULL apart, alone and in lists (epoch_us gives NULL for infinity).
    const at = async (t: string, l: string) => id('UTC', `'x' AS a, 'y' AS b, ${t} AS t, ${l} AS l`)
    const forms = [
      await at(`CAST(NULL AS TIMESTAMPTZ)`, `[CAST(NULL AS TIMESTAMPTZ)]`),
      await at(`TIMESTAMPTZ 'infinity'`, `[TIMESTAMPTZ 'infinity']`),
      await at(`TIMESTAMPTZ '-infinity'`, `[TIMESTAMPTZ '-infinity']`),
      await at(`TIMESTAMPTZ 'infinity'`, `[CAST(NULL AS TIMESTAMPTZ)]`),
    ]
    assert.equal(new Set(forms).size, forms.length)
  } finally {
    duck.closeSync()
    instance.closeSync()
  }
})

test('the dashboard names mirror column types as the Iceberg schema does', () => {
  assert.deepEqual(
    ['INTEGER', 'SMALLINT', 'BIGINT', 'DECIMAL(12,2)', 'VARCHAR[]', 'INTEGER[][]', 'TIMESTAMPTZ', 'INTERVAL', 'UUID', 'BLOB'].map(icebergTypeName),
    ['int', 'int', 'long', 'decimal(12, 2)', 'list<string>', 'list<list<int>>', 'timestamptz', 'string', 'uuid', 'binary'],
  )
})
