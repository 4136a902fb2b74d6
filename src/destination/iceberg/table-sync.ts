/**
 * Turns what a commit did to a table of the local mirror into one Iceberg snapshot of that table,
 * without rewriting it (merge-on-read):
 *
 * - **Window**: a batch of rows alone. Before the batch applies, the mirror's rows it can touch
 *   (those whose key, or for a keyless table whose values, a staged row names) are copied aside;
 *   after it, the same rows are read again. The rows that went or changed (duplicates counted)
 *   are found in the table's row index and removed by a position delete file; the rows that came
 *   or changed go to a new data file, whose rows join the index (row-index.ts).
 * - **Whole**: anything else (a truncate, a schema change, a copy swapped in, the end of a
 *   snapshot): the table is written anew and the snapshot replaces every file.
 *
 * The SQL runs in the mirror's transaction of the commit, so both sides see the same rows.
 */
import { randomUUID } from 'node:crypto'
import { InletError } from '../../errors/inlet-error.js'
import { quoteIdent } from '../../postgres/sql-text.js'
import type { TableTarget } from '../../model/table-binding.js'
import { asHeld, sqlType } from '../duckdb/column-types.js'
import { destinationTable, stageMetaColumns } from '../duckdb/apply-sql.js'
import { csvSource } from '../duckdb/stage-file.js'
import { columnTypes } from '../duckdb/table-ddl.js'
import { literal, type SqlSession } from '../duckdb/sql-session.js'
import { castColumn, evolveSchema, type IcebergSchema, type MirrorColumn } from './iceberg-schema.js'
import { rowGroupRows, writeParquet, type DataDirectory } from './data-files.js'
import { dropPositions, explainMismatch, hasRowIndex, indexFiles, positionsOf, POSITION_DELETES, resetRowIndex, rowIdentity } from './row-index.js'
import { readManifestList, writeManifest, writeManifestList, type ContentFile, type ManifestFile } from './manifests.js'
import { tableLocation, type Catalog, type CurrentMetadata, type PendingVersion } from './catalog.js'
import type { JournalEntry } from './commit-journal.js'
import { expireSnapshots, needsRewrite, rewriteCounters, type Garbage } from './maintenance.js'
import { currentSchema, currentSnapshot, newMetadata, newSnapshotId, withSnapshot } from './table-metadata.js'

/** What a whole write needs of a table. */
export type TableRef = Pick<TableTarget, 'destSchema' | 'destName' | 'display' | 'scd'>

/** A staged rows part, as the window reads its keys. */
export interface StagedRows {
  readonly target: TableTarget
  readonly file: string
  readonly longestLine: number
}

/** The rows of a table a batch can touch, copied aside before it applies. */
export interface Window {
  readonly target: TableTarget
  /** Columns the window is chosen by. */
  readonly match: readonly string[]
  readonly keys: string
  readonly before: string
  /** The table's column types when the window was taken (a batch that changes them writes it whole). */
  readonly types: string
}

/**
 * Where a commit's files go: the catalog (and its storage), a local directory for files on their
 * way to object storage, and the journal told each commit's files before any is written.
 */
export interface Lake {
  readonly catalog: Catalog
  readonly scratch: string
  /** Snapshots older than this leave the metadata (maintenance.ts). */
  readonly retentionMs: number
  journal(entry: JournalEntry): void
}

/** A version to make current, and the files to remove once it is. */
export interface PreparedVersion extends PendingVersion {
  /** The snapshot it makes current (what tells Inlet's version from another writer's of the same number). */
  readonly snapshot: number
  readonly garbage: Garbage
  /** Rows of the data files written. */
  readonly records: number
}

const UNCOMPARABLE = /\[\]$|^FLOAT$|^DOUBLE$/

let windows = 0

/** Copies aside the rows `parts` can touch; undefined when they cannot be told apart (whole write). */
export async function openWindow(sql: SqlSession, target: TableTarget, parts: readonly StagedRows[]): Promise<Window | undefined> {
  const held = await columnTypes(sql, target.destSchema, target.destName)
  const keyed = target.key.length > 0
  const match = keyed ? target.key.map((i) => (target.columns[i] as { name: string }).name) : target.columns.filter((c) => !UNCOMPARABLE.test(held.get(c.name) ?? '')).map((c) => c.name)
  // Float and list values do not select rows exactly (their staged text): a table keyed by one is written whole.
  if (match.length === 0 || match.some((m) => !held.has(m) || UNCOMPARABLE.test(held.get(m) ?? ''))) return undefined
  const selects: string[] = []
  for (const part of parts) {
    const t = asHeld(part.target, held)
    const names = [...t.columns.map((_, i) => `c${i}`), ...stageMetaColumns(t)]
    const source = `${csvSource(part.file, names, part.longestLine)} s`
    const at = match.map((m) => t.columns.findIndex((c) => c.name === m))
    if (at.some((i) => i < 0)) return undefined
    // TRY: a value the column cannot hold fails the batch, which widens the column and runs
    // again; its window is then read whole (the types changed), so a NULL key here only widens it.
    const key = (i: number, x: string) => `TRY(${sqlType(t.columns[i] as TableTarget['columns'][number]).convert(x)})`
    selects.push(`SELECT ${at.map((i, j) => `${key(i, `s.c${i}`)} AS k${j}`).join(', ')} FROM ${source}`)
    if (keyed) selects.push(`SELECT ${at.map((i, j) => `${key(i, `s.lk${j}`)} AS k${j}`).join(', ')} FROM ${source} WHERE s.lk0 IS NOT NULL`)
  }
  const n = windows++
  const keys = `inlet_window_keys_${n}`
  const before = `inlet_window_before_${n}`
  await sql.run(`CREATE OR REPLACE TEMP TABLE ${keys} AS SELECT DISTINCT * FROM (${selects.join(' UNION ALL ')})`)
  const window: Window = { target, match, keys, before, types: JSON.stringify([...held]) }
  await sql.run(`CREATE OR REPLACE TEMP TABLE ${before} AS ${windowRows(window)}`)
  return window
}

function windowRows(w: Window): string {
  const on = w.match.map((m, j) => `t.${quoteIdent(m)} IS NOT DISTINCT FROM k.k${j}`).join(' AND ')
  return `SELECT t.* FROM ${destinationTable(w.target)} t SEMI JOIN ${w.keys} k ON ${on}`
}

export interface CommitInfo {
  readonly source: string
  readonly lsn: bigint
  /** Columns renamed by the commit: new name → old name (they keep their field ids). */
  readonly renamed?: ReadonlyMap<string, string>
  /** Write over whatever version is current, another writer's too (inlet compact: Iceberg made equal to the mirror). */
  readonly adopt?: boolean
}

/** Per table, the metadata file the mirror last made (or is making) current. */
export const VERSIONS = '_inlet.iceberg_versions'

/**
 * The catalog's current version must be the one the mirror last made current: a table another
 * writer committed to (or rolled back) since would silently part from the mirror if a commit
 * built on it. Not checked for a table the mirror never wrote (a new mirror copies it anew).
 */
async function expectCurrent(sql: SqlSession, target: TableRef, current: CurrentMetadata | undefined): Promise<void> {
  const rows = await sql.rows<{ file: string; snapshot: bigint | null }>(`SELECT file, snapshot FROM ${VERSIONS} WHERE namespace = ${literal(target.destSchema)} AND name = ${literal(target.destName)}`)
  const expected = rows[0]
  if (expected === undefined) return
  // The file alone does not tell: path-based tables name every writer's version N alike.
  const snapshot = current === undefined ? undefined : currentSnapshot(current.meta)?.['snapshot-id']
  if (expected.file === current?.file && (expected.snapshot === null || Number(expected.snapshot) === snapshot)) return
  throw new InletError('INLET-D002', `Another writer changed the Iceberg table ${target.destSchema}.${target.destName} since Inlet last committed it (its current metadata is ${current?.file ?? 'gone'}${expected.file === current?.file ? ` with snapshot ${String(snapshot)}` : ''}, not Inlet's ${expected.file}).`, {
    fix: `Stop the other writer, then write Inlet's copy (equal to the source) over it: inlet compact ${target.destSchema}.${target.destName}`,
  })
}

/** The table's new snapshot from its window (rows changed alone). */
export async function prepareWindow(sql: SqlSession, lake: Lake, w: Window, info: CommitInfo): Promise<PreparedVersion | undefined> {
  // Columns widened inside the batch, or a table whose Iceberg side is missing: written whole.
  const types = JSON.stringify([...(await columnTypes(sql, w.target.destSchema, w.target.destName))])
  // Also when the table's commits since its last whole write call for one (compaction).
  const current = await lake.catalog.current(w.target.destSchema, w.target.destName)
  if (types !== w.types || current === undefined || needsRewrite(current.meta)) {
    for (const t of [w.keys, w.before]) await sql.run(`DROP TABLE IF EXISTS ${t}`)
    return prepareWhole(sql, lake, w.target, info)
  }
  const after = `${w.before}_after`
  const gone = `${after}_gone`
  const positions = `${after}_positions`
  const temps = [w.keys, w.before, after, gone, positions, `${w.before}_n`, `${after}_n`]
  try {
    await sql.run(`CREATE OR REPLACE TEMP TABLE ${after} AS ${windowRows(w)}`)
    const columns = [...(await columnTypes(sql, w.target.destSchema, w.target.destName))].map(([name, type]) => ({ name, type }))
    // Rows (duplicates counted) that went or changed, and those that came or changed, told apart by
    // identity rather than by EXCEPT ALL, whose output canonicalises values (-0.0 comes out 0.0).
    for (const t of [w.before, after]) await sql.run(`CREATE OR REPLACE TEMP TABLE ${t}_n AS SELECT x.*, ${rowIdentity(columns, 'x')} AS __inlet_id, row_number() OVER (PARTITION BY __inlet_id) AS __inlet_n FROM ${t} x`)
    const minus = (a: string, b: string, keep = '') => `SELECT * EXCLUDE (${keep}__inlet_n) FROM ${a}_n ANTI JOIN ${b}_n USING (__inlet_id, __inlet_n)`
    // The gone rows keep their identity: positionsOf looks them up by it.
    await sql.run(`CREATE OR REPLACE TEMP TABLE ${gone} AS ${minus(w.before, after)}`)
    const added = minus(after, w.before, '__inlet_id, ')
    // Where the gone rows sit; a table whose index is missing or disagrees is written whole (row-index.ts).
    const indexed = await hasRowIndex(sql, w.target)
    const found = indexed && (await positionsOf(sql, w.target, gone, positions))
    // The tests hold that the index never disagrees (a value whose identity differs between the
    // mirror and the files would make every commit of its table a whole write).
    if (indexed && !found && process.env.INLET_TEST_STRICT_ROW_INDEX === '1') throw new Error(`the row index of ${w.target.display} disagrees with the mirror (columns: ${(await explainMismatch(sql, w.target, columns, gone)).join('; ')})`)
    if (!found) return await prepareWhole(sql, lake, w.target, info)
    return await prepareTable(sql, lake, w.target, info, async (schema, written, dir) => {
      const data = await writeParquet(sql, `SELECT ${written.map(castColumn).join(', ')} FROM (${added})`, schema, dir, 0, (files) => indexFiles(sql, w.target, written, files))
      const deletes = await writeParquet(sql, `SELECT file_path, pos FROM ${positions} ORDER BY file_path, pos`, POSITION_DELETES, dir, 1)
      await dropPositions(sql, w.target, positions)
      return { data, deletes, replace: false }
    })
  } finally {
    // Not over the error that ended the work (DuckDB refuses every statement of an aborted transaction).
    for (const t of temps) await sql.run(`DROP TABLE IF EXISTS ${t}`).catch(() => undefined)
  }
}

/** The table's new snapshot holding all its rows (replacing every file). */
export function prepareWhole(sql: SqlSession, lake: Lake, target: TableRef, info: CommitInfo): Promise<PreparedVersion | undefined> {
  return prepareTable(sql, lake, target, info, async (schema, columns, dir) => {
    await resetRowIndex(sql, target)
    const data = await writeParquet(sql, `SELECT ${columns.map(castColumn).join(', ')} FROM ${destinationTable(target)}`, schema, dir, 0, (files) => indexFiles(sql, target, columns, files))
    return { data, deletes: [], replace: true }
  })
}

type WriteFiles = (schema: IcebergSchema, columns: readonly MirrorColumn[], dir: DataDirectory) => Promise<{ data: ContentFile[]; deletes: ContentFile[]; replace: boolean }>

async function prepareTable(sql: SqlSession, lake: Lake, target: TableRef, info: CommitInfo, write: WriteFiles): Promise<PreparedVersion | undefined> {
  const storage = lake.catalog.storage
  const location = tableLocation(storage, target.destSchema, target.destName)
  const columns = [...(await columnTypes(sql, target.destSchema, target.destName))].map(([name, type]) => ({ name, type }))
  const current = await lake.catalog.current(target.destSchema, target.destName)
  if (info.adopt !== true) await expectCurrent(sql, target, current)
  const previous = current === undefined ? undefined : currentSchema(current.meta)
  const { schema, lastId } = evolveSchema(previous, columns, current?.meta['last-column-id'] ?? 0, info.renamed)
  // Every file of the commit is named after it, and the journal knows them before the first is
  // written: a commit that never becomes current leaves nothing behind (commit-journal.ts).
  const commit = randomUUID()
  const id = newSnapshotId()
  const version = (current?.version ?? 0) + 1
  const dataLocation = storage.child(location, 'data')
  const manifestPath = (content: 0 | 1) => storage.child(location, 'metadata', `${commit}-m${content}.avro`)
  const listPath = storage.child(location, 'metadata', `snap-${id}-${commit}.avro`)
  lake.journal({
    namespace: target.destSchema,
    name: target.destName,
    commit,
    prefixes: [0, 1].map((c) => storage.child(dataLocation, `${commit}-${c}`)),
    files: [manifestPath(0), manifestPath(1), listPath, lake.catalog.metadataFile(location, version, commit)],
  })
  const { data, deletes, replace } = await write(schema, columns, { storage, location: dataLocation, scratch: lake.scratch, commit, rowGroupRows: await rowGroupRows(sql, destinationTable(target)) })
  if (current !== undefined && !replace && data.length === 0 && deletes.length === 0 && schema['schema-id'] === previous?.['schema-id']) return undefined
  const sequence = (current?.meta['last-sequence-number'] ?? 0) + 1
  const snapshot = current === undefined ? undefined : currentSnapshot(current.meta)
  const carried: ManifestFile[] = replace || snapshot === undefined ? [] : await readManifestList(await readObject(lake.catalog, snapshot['manifest-list']))
  const schemaJson = JSON.stringify(schema)
  const manifests = [...carried]
  for (const [content, files] of [[0, data], [1, deletes]] as const) {
    if (files.length === 0) continue
    const bytes = await writeManifest(files.map((file) => ({ status: 1, snapshotId: id, sequenceNumber: null, fileSequenceNumber: null, file })), content, schemaJson, schema['schema-id'])
    const path = manifestPath(content)
    await storage.write(path, bytes)
    const rows = files.reduce((sum, f) => sum + f.records, 0)
    manifests.push({ path, length: bytes.length, content, sequenceNumber: sequence, minSequenceNumber: sequence, addedSnapshotId: id, addedFiles: files.length, existingFiles: 0, deletedFiles: 0, addedRows: rows, existingRows: 0, deletedRows: 0 })
  }
  const parent = snapshot?.['snapshot-id'] ?? null
  await storage.write(listPath, await writeManifestList(manifests, id, parent, sequence))
  const records = (files: readonly ContentFile[]) => String(files.reduce((sum, f) => sum + f.records, 0))
  const summary: Record<string, string> = {
    operation: replace && snapshot !== undefined ? 'overwrite' : deletes.length > 0 ? 'overwrite' : 'append',
    'inlet.source': info.source,
    'inlet.lsn': String(info.lsn),
    'added-data-files': String(data.length),
    'added-records': records(data),
    'added-delete-files': String(deletes.length),
    'added-position-deletes': records(deletes),
    ...rewriteCounters(snapshot, replace, data.reduce((sum, f) => sum + f.records, 0), deletes.reduce((sum, f) => sum + f.records, 0), deletes.length),
  }
  const base = current?.meta ?? newMetadata(location, schema, lastId, { 'inlet.source-table': target.display, 'inlet.scd': String(target.scd) })
  const next = withSnapshot(base, { id, manifestList: listPath, summary, schema, lastColumnId: lastId, previousFile: current?.file })
  const expired = await expireSnapshots(next, lake.retentionMs, storage)
  // Metadata files that left the metadata log go too.
  const logged = new Set(next['metadata-log'].map((e) => e['metadata-file']))
  const unlogged = (current?.meta['metadata-log'] ?? []).map((e) => e['metadata-file']).filter((f) => !logged.has(f))
  const pending = await lake.catalog.prepare(target.destSchema, target.destName, version, expired.meta, current?.file ?? '', commit)
  return { ...pending, snapshot: id, garbage: { files: [...expired.garbage.files, ...unlogged], prefixes: expired.garbage.prefixes }, records: data.reduce((sum, f) => sum + f.records, 0) }
}

async function readObject(catalog: Catalog, location: string): Promise<Buffer> {
  const bytes = await catalog.storage.read(location)
  if (bytes === undefined) throw new InletError('INLET-D002', `The Iceberg file ${location} that the current snapshot names is missing.`, { fix: 'Restore it, or copy the table again with inlet refresh.' })
  return bytes
}

