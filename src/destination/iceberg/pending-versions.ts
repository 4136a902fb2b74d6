/**
 * The metadata versions the mirror has committed and the catalog not yet made current
 * (`PENDING`, published after each mirror commit and again at open after a crash), and per table
 * the version the mirror expects to be current (`VERSIONS`, see expectCurrent in table-sync.ts).
 * Both live in the mirror, so they commit or roll back with the rows they describe.
 */
import { InletError } from '../../errors/inlet-error.js'
import { literal, type SqlSession } from '../duckdb/sql-session.js'
import type { TableTarget } from '../../model/table-binding.js'
import type { Catalog, CurrentMetadata, PendingVersion } from './catalog.js'
import { removeGarbage, type Garbage } from './maintenance.js'
import { VERSIONS, type PreparedVersion } from './table-sync.js'

const PENDING = '_inlet.iceberg_pending_versions'

export async function createVersionTables(sql: SqlSession): Promise<void> {
  await sql.run(`CREATE TABLE IF NOT EXISTS ${PENDING} (namespace VARCHAR, name VARCHAR, location VARCHAR, version INTEGER, file VARCHAR, previous VARCHAR, garbage VARCHAR)`)
  await sql.run(`CREATE TABLE IF NOT EXISTS ${VERSIONS} (namespace VARCHAR, name VARCHAR, file VARCHAR)`)
  await sql.run(`ALTER TABLE ${VERSIONS} ADD COLUMN IF NOT EXISTS snapshot BIGINT`)
  // The row indexes' schema, made once here: writers making it inside their batches would conflict.
  await sql.run('CREATE SCHEMA IF NOT EXISTS _inlet_rows')
}

/** The metadata files of the pending versions. */
export async function pendingFiles(sql: SqlSession): Promise<string[]> {
  return (await sql.rows<{ file: string }>(`SELECT file FROM ${PENDING}`)).map((r) => r.file)
}

/** The versions to publish once the mirror commits, each its table's expected current version from then on. */
export async function recordPending(sql: SqlSession, catalog: Catalog, pending: readonly PreparedVersion[]): Promise<void> {
  for (const p of pending) {
    await sql.run(`DELETE FROM ${VERSIONS} WHERE namespace = ${literal(p.namespace)} AND name = ${literal(p.name)}`)
    await sql.run(`INSERT INTO ${VERSIONS} (namespace, name, file, snapshot) VALUES (${literal(p.namespace)}, ${literal(p.name)}, ${literal(catalog.publishedFile(p))}, ${p.snapshot})`)
    await sql.run(`INSERT INTO ${PENDING} VALUES (${[p.namespace, p.name, p.location].map(literal).join(', ')}, ${p.version}, ${literal(p.file)}, ${literal(p.previous)}, ${literal(JSON.stringify(p.garbage))})`)
  }
}

/** Makes the pending versions current, removes what they no longer reference, forgets them. */
export async function publishVersions(sql: SqlSession, catalog: Catalog, atOpen: boolean): Promise<void> {
  const rows = await sql.rows<PendingVersion & { garbage: string }>(`SELECT namespace, name, location, CAST(version AS INTEGER) AS version, file, previous, garbage FROM ${PENDING} ORDER BY location, version`)
  if (rows.length === 0) return
  let publish = rows
  for (;;) {
    try {
      await catalog.publish(publish.map((r) => ({ ...r, version: Number(r.version) })))
      break
    } catch (error) {
      // At open, a table another writer moved keeps its version unpublished (its next commit,
      // or inlet compact, says what to do), so that the others and inlet compact can go on.
      const conflict = error instanceof InletError ? (error.details?.conflict as { namespace: string; name: string } | undefined) : undefined
      if (!atOpen || conflict === undefined) throw error
      const left = publish.filter((r) => r.namespace !== conflict.namespace || r.name !== conflict.name)
      await sql.run(`DELETE FROM ${PENDING} WHERE namespace = ${literal(conflict.namespace)} AND name = ${literal(conflict.name)}`)
      if (left.length === publish.length) throw error
      publish = left
      if (publish.length === 0) return
    }
  }
  // What the versions no longer reference (expired snapshots), now that they are current.
  for (const r of publish) await removeGarbage(catalog.storage, JSON.parse(r.garbage) as Garbage)
  await sql.run(`DELETE FROM ${PENDING} WHERE file IN (${publish.map((r) => literal(r.file)).join(', ')})`)
}

/**
 * An Iceberg table this mirror never wrote (a lost mirror, another mirror's table) is not copied
 * over: a new copy would replace its rows, and an SCD2 table's history, without a word.
 */
export async function assertWrittenHere(sql: SqlSession, catalog: Catalog, target: TableTarget, current: CurrentMetadata, where: string): Promise<void> {
  const known = await sql.rows(`SELECT 1 FROM ${VERSIONS} WHERE namespace = ${literal(target.destSchema)} AND name = ${literal(target.destName)}`)
  if (known.length > 0) return
  const held = current.meta.properties['inlet.scd'] === '2' ? 'rows and SCD2 history' : 'rows'
  throw new InletError('INLET-D003', `The Iceberg table ${target.destSchema}.${target.destName} already exists in ${where}, which never wrote it: a new copy of ${target.display} would replace its ${held}.`, {
    fix: `Run with the mirror that wrote it (mirror=DIR in the destination URL), or, to copy it anew on purpose, remove it first: ${catalog.dropHint(target.destSchema, target.destName)}`,
  })
}
