/**
 * Iceberg manifests and manifest lists (format v2) as Avro files, through avsc. The schemas are
 * the spec's, with the `field-id` attributes Iceberg readers resolve fields by: avsc keeps them in
 * the file header only when the encoder is given the plain schema object (an avro.Type drops them).
 * Tables are unpartitioned, so each data file's partition is an empty record.
 */
import avro from 'avsc'

/** A data file or delete file in a manifest (the spec's data_file struct, the fields Inlet fills). */
export interface ContentFile {
  /** 0 data, 1 position deletes, 2 equality deletes (tables written before Inlet kept a row index). */
  readonly content: 0 | 1 | 2
  readonly path: string
  readonly records: number
  readonly bytes: number
  readonly columnSizes: ReadonlyMap<number, number>
  readonly valueCounts: ReadonlyMap<number, number>
  readonly nullCounts: ReadonlyMap<number, number>
  readonly lowerBounds: ReadonlyMap<number, Buffer>
  readonly upperBounds: ReadonlyMap<number, Buffer>
  /** Equality delete files: the field ids compared. */
  readonly equalityIds?: readonly number[]
}

/** A manifest entry: the file, when it was added, and whether it is live. */
export interface ManifestEntry {
  /** 0 existing, 1 added, 2 deleted. */
  readonly status: 0 | 1 | 2
  readonly snapshotId: number
  /** Data sequence number; null for added entries (inherited from the manifest list). */
  readonly sequenceNumber: number | null
  readonly fileSequenceNumber: number | null
  readonly file: ContentFile
}

/** An entry of a manifest list. */
export interface ManifestFile {
  readonly path: string
  readonly length: number
  /** 0 data, 1 deletes. */
  readonly content: 0 | 1
  readonly sequenceNumber: number
  readonly minSequenceNumber: number
  readonly addedSnapshotId: number
  readonly addedFiles: number
  readonly existingFiles: number
  readonly deletedFiles: number
  readonly addedRows: number
  readonly existingRows: number
  readonly deletedRows: number
}

const optional = (type: unknown) => ['null', type]
const intMap = (name: string, keyId: number, valueId: number, value: string) =>
  optional({ type: 'array', logicalType: 'map', items: { type: 'record', name, fields: [{ name: 'key', type: 'int', 'field-id': keyId }, { name: 'value', type: value, 'field-id': valueId }] } })

const DATA_FILE = {
  type: 'record',
  name: 'r2',
  fields: [
    { name: 'content', type: 'int', 'field-id': 134 },
    { name: 'file_path', type: 'string', 'field-id': 100 },
    { name: 'file_format', type: 'string', 'field-id': 101 },
    { name: 'partition', type: { type: 'record', name: 'r102', fields: [] }, 'field-id': 102 },
    { name: 'record_count', type: 'long', 'field-id': 103 },
    { name: 'file_size_in_bytes', type: 'long', 'field-id': 104 },
    { name: 'column_sizes', type: intMap('k117_v118', 117, 118, 'long'), default: null, 'field-id': 108 },
    { name: 'value_counts', type: intMap('k119_v120', 119, 120, 'long'), default: null, 'field-id': 109 },
    { name: 'null_value_counts', type: intMap('k121_v122', 121, 122, 'long'), default: null, 'field-id': 110 },
    { name: 'nan_value_counts', type: intMap('k138_v139', 138, 139, 'long'), default: null, 'field-id': 137 },
    { name: 'lower_bounds', type: intMap('k126_v127', 126, 127, 'bytes'), default: null, 'field-id': 125 },
    { name: 'upper_bounds', type: intMap('k129_v130', 129, 130, 'bytes'), default: null, 'field-id': 128 },
    { name: 'key_metadata', type: optional('bytes'), default: null, 'field-id': 131 },
    { name: 'split_offsets', type: optional({ type: 'array', items: 'long', 'element-id': 133 }), default: null, 'field-id': 132 },
    { name: 'equality_ids', type: optional({ type: 'array', items: 'int', 'element-id': 136 }), default: null, 'field-id': 135 },
    { name: 'sort_order_id', type: optional('int'), default: null, 'field-id': 140 },
  ],
}

const MANIFEST_ENTRY = {
  type: 'record',
  name: 'manifest_entry',
  fields: [
    { name: 'status', type: 'int', 'field-id': 0 },
    { name: 'snapshot_id', type: optional('long'), default: null, 'field-id': 1 },
    { name: 'sequence_number', type: optional('long'), default: null, 'field-id': 3 },
    { name: 'file_sequence_number', type: optional('long'), default: null, 'field-id': 4 },
    { name: 'data_file', type: DATA_FILE, 'field-id': 2 },
  ],
}

const MANIFEST_FILE = {
  type: 'record',
  name: 'manifest_file',
  fields: [
    { name: 'manifest_path', type: 'string', 'field-id': 500 },
    { name: 'manifest_length', type: 'long', 'field-id': 501 },
    { name: 'partition_spec_id', type: 'int', 'field-id': 502 },
    { name: 'content', type: 'int', 'field-id': 517 },
    { name: 'sequence_number', type: 'long', 'field-id': 515 },
    { name: 'min_sequence_number', type: 'long', 'field-id': 516 },
    { name: 'added_snapshot_id', type: 'long', 'field-id': 503 },
    { name: 'added_files_count', type: 'int', 'field-id': 504 },
    { name: 'existing_files_count', type: 'int', 'field-id': 505 },
    { name: 'deleted_files_count', type: 'int', 'field-id': 506 },
    { name: 'added_rows_count', type: 'long', 'field-id': 512 },
    { name: 'existing_rows_count', type: 'long', 'field-id': 513 },
    { name: 'deleted_rows_count', type: 'long', 'field-id': 514 },
    { name: 'partitions', type: optional({ type: 'array', items: { type: 'record', name: 'r508', fields: [] }, 'element-id': 508 }), default: null, 'field-id': 507 },
    { name: 'key_metadata', type: optional('bytes'), default: null, 'field-id': 519 },
  ],
}

const MANIFEST_TYPE = avro.Type.forSchema(MANIFEST_ENTRY as avro.Schema)
const LIST_TYPE = avro.Type.forSchema(MANIFEST_FILE as avro.Schema)

/** Every record fits the schema (avsc would write a broken file otherwise); names the first wrong field. */
function validate(type: avro.Type, records: readonly object[], what: string): void {
  for (const r of records) type.isValid(r, { errorHook: (path) => { throw new Error(`${what} invalid at ${path.join('.')}`) } })
}

/** Encodes records into an Avro object container file in memory. */
function encode(schema: object, metadata: Record<string, string>, records: readonly object[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    const meta = Object.fromEntries(Object.entries(metadata).map(([k, v]) => [k, Buffer.from(v)]))
    // `metadata` is supported by avsc's BlockEncoder but missing from its type definitions. The
    // header always: an empty manifest list is a header alone (by default avsc writes nothing).
    const encoder = new avro.streams.BlockEncoder(schema as avro.Schema, { metadata: meta, codec: 'null', writeHeader: 'always' } as Partial<avro.EncoderOptions>)
    encoder.on('data', (chunk: Buffer) => chunks.push(chunk))
    encoder.on('end', () => resolve(Buffer.concat(chunks)))
    encoder.on('error', reject)
    for (const r of records) encoder.write(r)
    encoder.end()
  })
}

function decode<T>(bytes: Buffer): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const out: T[] = []
    const decoder = new avro.streams.BlockDecoder({ noDecode: false })
    decoder.on('data', (r: T) => out.push(r))
    decoder.on('end', () => resolve(out))
    decoder.on('error', reject)
    decoder.end(bytes)
  })
}

const mapOut = <V>(m: ReadonlyMap<number, V>) => (m.size === 0 ? null : [...m].map(([key, value]) => ({ key, value })))

/** A manifest of `entries` (all data files, or all delete files: `content`). */
export function writeManifest(entries: readonly ManifestEntry[], content: 0 | 1, schemaJson: string, schemaId: number): Promise<Buffer> {
  const records = entries.map((e) => ({
    status: e.status,
    snapshot_id: e.snapshotId,
    sequence_number: e.sequenceNumber,
    file_sequence_number: e.fileSequenceNumber,
    data_file: {
      content: e.file.content,
      file_path: e.file.path,
      file_format: 'PARQUET',
      partition: {},
      record_count: e.file.records,
      file_size_in_bytes: e.file.bytes,
      column_sizes: mapOut(e.file.columnSizes),
      value_counts: mapOut(e.file.valueCounts),
      null_value_counts: mapOut(e.file.nullCounts),
      nan_value_counts: null,
      lower_bounds: mapOut(e.file.lowerBounds),
      upper_bounds: mapOut(e.file.upperBounds),
      key_metadata: null,
      split_offsets: null,
      equality_ids: e.file.equalityIds === undefined ? null : [...e.file.equalityIds],
      sort_order_id: null,
    },
  }))
  validate(MANIFEST_TYPE, records, 'manifest entry')
  return encode(MANIFEST_ENTRY, { schema: schemaJson, 'schema-id': String(schemaId), 'partition-spec': '[]', 'partition-spec-id': '0', 'format-version': '2', content: content === 0 ? 'data' : 'deletes' }, records)
}

export function writeManifestList(files: readonly ManifestFile[], snapshotId: number, parentId: number | null, sequenceNumber: number): Promise<Buffer> {
  const records = files.map((m) => ({
    manifest_path: m.path,
    manifest_length: m.length,
    partition_spec_id: 0,
    content: m.content,
    sequence_number: m.sequenceNumber,
    min_sequence_number: m.minSequenceNumber,
    added_snapshot_id: m.addedSnapshotId,
    added_files_count: m.addedFiles,
    existing_files_count: m.existingFiles,
    deleted_files_count: m.deletedFiles,
    added_rows_count: m.addedRows,
    existing_rows_count: m.existingRows,
    deleted_rows_count: m.deletedRows,
    partitions: null,
    key_metadata: null,
  }))
  validate(LIST_TYPE, records, 'manifest list entry')
  return encode(MANIFEST_FILE, { 'snapshot-id': String(snapshotId), 'parent-snapshot-id': parentId === null ? 'null' : String(parentId), 'sequence-number': String(sequenceNumber), 'format-version': '2' }, records)
}

interface ListRecord {
  manifest_path: string
  manifest_length: number
  content: number
  sequence_number: number
  min_sequence_number: number
  added_snapshot_id: number
  added_files_count: number
  existing_files_count: number
  deleted_files_count: number
  added_rows_count: number
  existing_rows_count: number
  deleted_rows_count: number
}

/** The manifests of a snapshot, read back from its manifest list (carried into the next snapshot). */
export async function readManifestList(bytes: Buffer): Promise<ManifestFile[]> {
  const records = await decode<ListRecord>(bytes)
  return records.map((r) => ({
    path: r.manifest_path,
    length: Number(r.manifest_length),
    content: r.content === 1 ? 1 : 0,
    sequenceNumber: Number(r.sequence_number),
    minSequenceNumber: Number(r.min_sequence_number),
    addedSnapshotId: Number(r.added_snapshot_id),
    addedFiles: r.added_files_count,
    existingFiles: r.existing_files_count,
    deletedFiles: r.deleted_files_count,
    addedRows: Number(r.added_rows_count),
    existingRows: Number(r.existing_rows_count),
    deletedRows: Number(r.deleted_rows_count),
  }))
}
