/**
 * A physical standby of an embedded server, made the way pg_basebackup does it (the embedded
 * binaries ship no pg_basebackup): the low-level backup API around a file copy of the running
 * data directory, then standby.signal and the streaming settings. The standby streams from a
 * physical slot of the primary that reserves WAL from before the copy.
 */
import { execFileSync } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { EmbeddedPostgres, type SettingValue } from '../../src/embedded/postgres-server.js'

/** Directories whose contents a base backup leaves out (the server recreates them). */
const EMPTIED = new Set(['pg_wal', 'pg_replslot', 'pg_stat_tmp', 'pg_dynshmem', 'pg_notify', 'pg_serial', 'pg_snapshots', 'pg_subtrans'])
const SKIPPED = new Set(['postmaster.pid', 'postmaster.opts'])

/** Copies a live data directory; files that vanish under the copy (temporary ones) are skipped, as pg_basebackup does. */
function copyLive(from: string, to: string, top = true): void {
  mkdirSync(to, { recursive: true, mode: 0o700 })
  let entries
  try {
    entries = readdirSync(from, { withFileTypes: true })
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return
    throw error
  }
  for (const entry of entries) {
    if (top && SKIPPED.has(entry.name)) continue
    const source = join(from, entry.name)
    const target = join(to, entry.name)
    if (entry.isDirectory()) {
      if (top && EMPTIED.has(entry.name)) mkdirSync(target, { mode: 0o700 })
      else copyLive(source, target, false)
      continue
    }
    try {
      copyFileSync(source, target)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
    }
  }
}

/**
 * Makes a hot standby of `primary` (PostgreSQL 17+ for slot synchronization) that streams through
 * the physical slot `slot` and synchronizes failover slots.
 */
export async function startStandby(primary: EmbeddedPostgres, slot: string, settings: Readonly<Record<string, SettingValue>> = {}): Promise<{ standby: EmbeddedPostgres; dispose: () => Promise<void> }> {
  const base = mkdtempSync(join(tmpdir(), `inlet-standby${primary.major}-`))
  const dataDir = join(base, 'data')
  const client = new pg.Client(primary.url('postgres'))
  await client.connect()
  try {
    await client.query(`SELECT pg_create_physical_replication_slot($1, true)`, [slot])
    await client.query(`SELECT pg_backup_start('inlet-test standby', true)`)
    copyLive(primary.dataDir, dataDir)
    mkdirSync(join(dataDir, 'pg_wal', 'archive_status'), { recursive: true, mode: 0o700 })
    const stopped = await client.query<{ labelfile: string; spcmapfile: string }>(`SELECT labelfile, spcmapfile FROM pg_backup_stop(false)`)
    writeFileSync(join(dataDir, 'backup_label'), stopped.rows[0]?.labelfile ?? '')
    const map = stopped.rows[0]?.spcmapfile ?? ''
    if (map !== '') writeFileSync(join(dataDir, 'tablespace_map'), map)
  } finally {
    await client.end()
  }
  writeFileSync(join(dataDir, 'standby.signal'), '')
  if (userInfo().uid === 0) execFileSync('chown', ['-R', 'postgres:postgres', base])
  const conninfo = `host=127.0.0.1 port=${primary.port} user=${primary.superuser} password=${primary.password} dbname=postgres application_name=${slot}`
  const standby = await EmbeddedPostgres.start({
    major: primary.major,
    dataDir,
    password: primary.password,
    settings: { primary_conninfo: conninfo, primary_slot_name: slot, hot_standby: true, hot_standby_feedback: true, sync_replication_slots: true, ...settings },
  })
  return {
    standby,
    dispose: async () => {
      await standby.stop()
      rmSync(base, { recursive: true, force: true })
    },
  }
}
