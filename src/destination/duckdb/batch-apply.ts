/**
 * Batches in DuckDB: `stage()` writes each rows segment as a CSV file in the writer's scratch
 * directory (nothing in the database yet), `commitBatch()` applies every staged part of the batch
 * and writes the checkpoint in one DuckDB transaction.
 *
 * DuckDB cannot commit an ALTER TABLE that follows a DELETE or UPDATE on the same table in one
 * transaction. So per table the batch's DDL goes first (swap renames, column renames, additions,
 * widenings, drops), and rows staged before a later change are applied through it: under the
 * column's later name, without columns dropped later (their values go with the column). A large
 * transaction staged in many parts, DDL in its middle included, thus commits as one.
 */
import { mkdirSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { quoteIdent } from '../../postgres/sql-text.js'
import type { ChangeCommit, Segment } from '../../model/change-set.js'
import { describeChange, type SchemaChange } from '../../model/schema-change.js'
import type { BatchCommit, StagedChanges } from '../destination.js'
import { END_COLUMN, PARTITION_COLUMN, START_COLUMN, type TableTarget, type TargetColumn } from '../../model/table-binding.js'
import { applySegmentSql, destinationTable, stageMetaColumns, truncateSql, type Stage, type StagedPositions } from './apply-sql.js'
import { csvSource, writeStageFile } from './stage-file.js'
import type { SqlSession } from './sql-session.js'
import { pgText, widenToText, type FillValue, type StagedValues, type WidenedColumn } from './widen-to-text.js'
import { markDropped, readCheckpointLsn, writeCheckpoint, writeColumns, writeCommitTimes, writeSchemaChanges, writeTable } from './state-store.js'
import { asHeld } from './column-types.js'
import { alterSql, columnTypes, fillSql } from './table-ddl.js'

type StagedPart =
  | { readonly kind: 'rows'; readonly target: TableTarget; readonly file: string; readonly keysFile: string | undefined; readonly hasToast: boolean; readonly longestLine: number }
  | { readonly kind: 'truncate'; readonly commit: ChangeCommit; readonly partition?: number }
  | { readonly kind: 'partition-gone'; readonly commit: ChangeCommit; readonly partition: number }
  | { readonly kind: 'schema'; readonly change: SchemaChange }
  | { readonly kind: 'dropped' }
  /** A leaf partition's copy replaces the partition's rows (after the batch's earlier changes). */
  | { readonly kind: 'partition-copy'; readonly copy: TableTarget; readonly partition: number }

export interface DuckStaged extends StagedChanges {
  readonly parts: readonly StagedPart[]
}

/** Writes a table's segments as staging files under `directory` (file names unique per writer). */
export class Stager {
  private serial = 0

  constructor(private readonly directory: string) {}

  stage(target: TableTarget, segments: readonly Segment[]): DuckStaged {
    mkdirSync(this.directory, { recursive: true })
    const parts: StagedPart[] = []
    let changes = 0
    for (const segment of segments) {
      if (segment.kind !== 'rows') {
        parts.push(segment)
        continue
      }
      const n = ++this.serial
      const file = join(this.directory, `stage-${n}.csv`)
      const hasToast = segment.rows.some((r) => r.toast !== null)
      // Keyed SCD1 without TOAST lookups deletes by key alone: a second file with just the keys.
      const keysFile = segment.target.scd === 1 && segment.target.key.length > 0 && !hasToast ? join(this.directory, `stage-${n}-keys.csv`) : undefined
      const { longestLine } = writeStageFile(file, segment.target, segment.rows, keysFile)
      parts.push({ kind: 'rows', target: segment.target, file, keysFile, hasToast, longestLine })
      changes += segment.rows.length
    }
    return { target, changes, parts }
  }
}

/** A column across the renames of a batch: its attnum, or its name where the stream gave none. */
export function columnId(column: TargetColumn): string {
  return column.source.attnum > 0 ? `#${column.source.attnum}` : `=${column.name}`
}

/** The batch's staged rows, as widen-to-text.ts reads them. */
export function stagedValues(batch: BatchCommit): StagedValues[] {
  const all = [...batch.changes, ...batch.swaps.flatMap((s) => s.changes)] as unknown as readonly DuckStaged[]
  return all.flatMap((s) =>
    s.parts.flatMap((p) => (p.kind === 'rows' ? [{ target: p.target, files: [p.file], names: [...p.target.columns.map((_, i) => `c${i}`), ...stageMetaColumns(p.target)], longestLine: p.longestLine }] : [])),
  )
}

/** The fills of columns the batch adds, as widen-to-text.ts checks them. */
export function stagedFills(batch: BatchCommit): FillValue[] {
  const all = [...batch.changes, ...batch.swaps.flatMap((s) => s.changes)] as unknown as readonly DuckStaged[]
  return all.flatMap((s) => s.parts.flatMap((p) => (p.kind === 'schema' ? p.change.added.flatMap((a) => (a.fill === null ? [] : [{ target: p.change.target, column: a.column, fill: a.fill }])) : [])))
}

/** Bytes of the CSV files the batch applies: a transaction spilled in parts stages hundreds of MB. */
export function stagedBytes(batch: BatchCommit): number {
  const all = [...batch.changes, ...batch.swaps.flatMap((s) => s.changes)] as unknown as readonly DuckStaged[]
  let bytes = 0
  for (const s of all) for (const p of s.parts) if (p.kind === 'rows') bytes += statSync(p.file, { throwIfNoEntry: false })?.size ?? 0
  return bytes
}

export function discardStaged(staged: readonly StagedChanges[]): void {
  for (const s of staged as readonly DuckStaged[]) {
    for (const part of s.parts) {
      if (part.kind !== 'rows') continue
      rmSync(part.file, { force: true })
      if (part.keysFile !== undefined) rmSync(part.keysFile, { force: true })
    }
  }
}

export interface CommitOptions {
  readonly dropColumns: boolean
  /** Per destination table, the columns (columnId) to widen to text after the table's DDL (widen-to-text.ts). */
  readonly asText?: ReadonlyMap<string, ReadonlySet<string>>
  /** Filled with the columns widened. */
  readonly widened?: WidenedColumn[]
}

/**
 * Applies the batch in one transaction; a batch whose checkpoint is not past the stored one is a
 * replay and changes nothing. The staged files stay (the caller discards them), so that a commit
 * rolled back can run again.
 */
export async function commitBatch(sql: SqlSession, batch: BatchCommit, options: CommitOptions): Promise<void> {
  const checkpoint = batch.checkpoint
  await sql.atomically(async () => {
    if (checkpoint !== undefined) {
      const stored = await readCheckpointLsn(sql, checkpoint.source)
      if (stored !== undefined && checkpoint.lsn <= stored) return
    }
    // Per destination table, every part in stream order: a swapped-in copy's held changes, then the batch's.
    const byTable = new Map<string, { target: TableTarget; parts: StagedPart[] }>()
    const partsOf = (target: TableTarget) => {
      const name = destinationTable(target)
      let entry = byTable.get(name)
      if (entry === undefined) byTable.set(name, (entry = { target, parts: [] }))
      return entry.parts
    }
    for (const swap of batch.swaps) {
      if (swap.partition !== undefined) continue
      // First of all: DuckDB commits no rename after a DELETE on the same table.
      await sql.run(`DROP TABLE IF EXISTS ${destinationTable(swap.table)}`)
      await sql.run(`ALTER TABLE ${destinationTable(swap.copy)} RENAME TO ${quoteIdent(swap.table.destName)}`)
      await writeTable(sql, swap.table, 'streaming', swap.snapshotLsn, BigInt(swap.rows))
      for (const s of swap.changes as readonly DuckStaged[]) partsOf(swap.table).push(...s.parts)
    }
    for (const s of batch.changes as readonly DuckStaged[]) partsOf(s.target).push(...s.parts)
    // A partition's copy comes after the batch's changes of its table (those before the copy's
    // snapshot, of that partition too, are in the copy), then the changes held for it.
    for (const swap of batch.swaps) {
      if (swap.partition === undefined) continue
      partsOf(swap.table).push({ kind: 'partition-copy', copy: swap.copy, partition: swap.partition })
      for (const s of swap.changes as readonly DuckStaged[]) partsOf(swap.table).push(...s.parts)
    }
    for (const { target, parts } of byTable.values()) await applyParts(sql, target, parts, options)
    if (checkpoint !== undefined) {
      await writeCommitTimes(sql, checkpoint.source, checkpoint.tables)
      await writeCheckpoint(sql, checkpoint.source, checkpoint.lsn, checkpoint.commitTime)
    }
  })
}

/**
 * A leaf partition copied on its own replaces that partition's rows: they go (SCD2: the current
 * versions close when the copy's open), the copy's rows come in, the copy goes.
 */
async function swapPartition(sql: SqlSession, copy: TableTarget, table: TableTarget, partition: number, liveTypes: ReadonlyMap<string, string>, copyTypes: ReadonlyMap<string, string>): Promise<void> {
  const live = destinationTable(table)
  const part = quoteIdent(PARTITION_COLUMN)
  if (table.scd === 1) await sql.run(`DELETE FROM ${live} WHERE ${part} = ${partition}`)
  else {
    const end = quoteIdent(END_COLUMN)
    await sql.run(`UPDATE ${live} SET ${end} = coalesce((SELECT min(${quoteIdent(START_COLUMN)}) FROM ${destinationTable(copy)}), now()) WHERE ${end} IS NULL AND ${part} = ${partition}`)
  }
  // A column of the table widened to text since the copy began takes the copy's values as text.
  const values = [...copyTypes.keys()].map((name) => {
    const from = copyTypes.get(name) as string
    return liveTypes.get(name) === 'VARCHAR' && from !== 'VARCHAR' ? pgText(from, quoteIdent(name)) : quoteIdent(name)
  })
  await sql.run(`INSERT INTO ${live} (${[...copyTypes.keys()].map(quoteIdent).join(', ')}) SELECT ${values.join(', ')} FROM ${destinationTable(copy)}`)
  await sql.run(`DROP TABLE ${destinationTable(copy)}`)
}

/**
 * The destination names of the columns to widen: under the last layout that has each (a column
 * the batch's DDL drops but keeps, NULL from then on, still takes the rows before the drop).
 */
function widenedNames(table: TableTarget, parts: readonly StagedPart[], wanted: ReadonlySet<string> | undefined): string[] {
  if (wanted === undefined) return []
  const names = new Map<string, string>()
  const layouts = parts.flatMap((p) => (p.kind === 'rows' ? [p.target] : p.kind === 'schema' ? [p.change.target] : []))
  // In stream order: a column renamed by the batch is widened under its last name.
  for (const layout of [table, ...layouts]) for (const c of layout.columns) if (wanted.has(columnId(c))) names.set(columnId(c), c.name)
  return [...new Set(names.values())]
}

/** One table's parts: its DDL first, then truncates, fills and rows in order (see the file comment). */
async function applyParts(sql: SqlSession, table: TableTarget, parts: readonly StagedPart[], options: CommitOptions): Promise<void> {
  const changes = parts.flatMap((p) => (p.kind === 'schema' ? [p.change] : []))
  const reset = changes.length === 0 ? new Set<string>() : await applyDdl(sql, table, changes, options)
  // Still before any row: columns whose values need text, as the batch's DDL left them.
  const layout = changes.at(-1)?.target ?? table
  const asText = widenedNames(table, parts, options.asText?.get(destinationTable(table)))
  if (asText.length > 0) options.widened?.push(...(await widenToText(sql, layout, new Set(asText))))
  // A partition's copy that was widened to text while loading: the table's column too, before its rows.
  const copyTypes = new Map<TableTarget, Map<string, string>>()
  for (const part of parts) if (part.kind === 'partition-copy') copyTypes.set(part.copy, await columnTypes(sql, part.copy.destSchema, part.copy.destName))
  if (copyTypes.size > 0) {
    const live = await columnTypes(sql, table.destSchema, table.destName)
    const widen = [...copyTypes.values()].flatMap((types) => [...types].filter(([name, type]) => type === 'VARCHAR' && live.has(name) && live.get(name) !== 'VARCHAR').map(([name]) => name))
    if (widen.length > 0) options.widened?.push(...(await widenToText(sql, layout, new Set(widen))))
  }
  const held = await columnTypes(sql, table.destSchema, table.destName)
  let stage = 0
  for (const [index, part] of parts.entries()) {
    const later = parts.slice(index + 1).flatMap((p) => (p.kind === 'schema' ? [p.change] : []))
    if (part.kind === 'truncate' || part.kind === 'partition-gone') for (const statement of truncateSql(table, part.commit, part.partition)) await sql.run(statement)
    else if (part.kind === 'partition-copy') await swapPartition(sql, part.copy, table, part.partition, held, copyTypes.get(part.copy) ?? new Map())
    else if (part.kind === 'dropped') await markDropped(sql, table)
    else if (part.kind === 'schema') {
      const { target } = laterLayout(part.change.target, later, options.dropColumns)
      for (const statement of fillSql(asHeld(target, held), part.change.added, reset)) await sql.run(statement)
    } else {
      const { target: laid, at } = laterLayout(part.target, later, options.dropColumns)
      const target = asHeld(laid, held)
      const staged = await readStage(sql, part, stage++)
      for (const statement of applySegmentSql(target, staged, part.hasToast, at)) await sql.run(statement)
    }
  }
  const last = changes.at(-1)
  if (last !== undefined) await writeColumns(sql, last.target)
  if (last !== undefined) await writeSchemaChanges(sql, last.target, changes.map(describeChange).filter((c) => c !== ''))
}

/**
 * The DDL of a table's schema changes, in order, before any of its rows. Returns the columns added
 * under the name of a column the destination kept after a drop: the rows that existed get the new
 * column's fill, as its old values are not the new column's. (Of another type, the old column goes
 * first: dropped in a mirror, renamed aside in a history table, whose old versions keep it.)
 */
async function applyDdl(sql: SqlSession, table: TableTarget, changes: readonly SchemaChange[], options: CommitOptions): Promise<Set<string>> {
  const reset = new Set<string>()
  for (const change of changes) {
    const present = await columnTypes(sql, table.destSchema, table.destName)
    const name = destinationTable(change.target)
    for (const a of change.added) {
      const was = present.get(a.column.name)
      if (was === undefined || change.renamed.some((r) => r.to === a.column.name)) continue
      reset.add(a.column.name)
      if (was === a.column.type.name) continue
      if (table.scd === 1) await sql.run(`ALTER TABLE ${name} DROP COLUMN ${quoteIdent(a.column.name)}`)
      else await sql.run(`ALTER TABLE ${name} RENAME COLUMN ${quoteIdent(a.column.name)} TO ${quoteIdent(asideName(present, a.column.name))}`)
    }
    for (const statement of alterSql(change, present)) await sql.run(statement)
    if (options.dropColumns) for (const dropped of change.dropped) await sql.run(`ALTER TABLE ${name} DROP COLUMN IF EXISTS ${quoteIdent(dropped)}`)
  }
  return reset
}

/** `c__inlet_dropped`, or with a number, a name the table does not have yet. */
function asideName(present: ReadonlyMap<string, string>, column: string): string {
  for (let n = 1; ; n++) {
    const name = n === 1 ? `${column}__inlet_dropped` : `${column}__inlet_dropped_${n}`
    if (![...present.keys()].some((k) => k.toLowerCase() === name.toLowerCase())) return name
  }
}

/**
 * The relation the apply statements read: the file itself when each reads it once (keyed SCD1:
 * one DELETE, one INSERT; DuckDB parses it twice faster than it materialises it), else a
 * temporary table loaded from it.
 */
async function readStage(sql: SqlSession, part: Extract<StagedPart, { kind: 'rows' }>, index: number): Promise<Stage> {
  const target = part.target
  const names = [...target.columns.map((_, i) => `c${i}`), ...stageMetaColumns(target)]
  const name = `inlet_stage_${index}`
  const source = csvSource(part.file, names, part.longestLine)
  if (part.keysFile !== undefined) return { relation: source, keys: csvSource(part.keysFile, target.key.map((i) => `c${i}`), part.longestLine), name }
  await sql.run(`CREATE OR REPLACE TEMP TABLE ${name} AS SELECT * FROM ${source}`)
  return { relation: name, name }
}

/**
 * The target as it is after the later schema changes, for rows staged before them: each column
 * under its later name (renames followed in order), columns dropped later left out when the
 * destination drops them; `at` maps the result's columns to their staged positions.
 */
export function laterLayout(target: TableTarget, later: readonly SchemaChange[], dropColumns: boolean): { target: TableTarget; at: StagedPositions } {
  if (later.length === 0) return { target, at: undefined }
  const at: number[] = []
  const columns = []
  for (const [i, c] of target.columns.entries()) {
    let name: string | undefined = c.name
    for (const change of later) {
      if (name === undefined) break
      const renamed = change.renamed.find((r) => r.from === name)
      if (renamed !== undefined) name = renamed.to
      else if (dropColumns && change.dropped.includes(name)) name = undefined
    }
    if (name === undefined) continue
    at.push(i)
    columns.push(name === c.name ? c : { ...c, name })
  }
  const key = target.key.map((k) => at.indexOf(k))
  return { target: { ...target, columns, key }, at }
}
