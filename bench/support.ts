/** Helpers shared by the benchmarks. */
import { spawn, spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type pg from 'pg'
import { PROJECT_ROOT } from '../scripts/project-root.js'

/** True when `tool` (psql, pg_recvlogical) runs; installs Debian's postgresql-client as root if needed. */
export function ensurePostgresClient(tool: string): boolean {
  if (spawnSync(tool, ['--version']).status === 0) return true
  if (process.getuid?.() !== 0) return false
  console.log(`installing postgresql-client (${tool}) from Debian...`)
  spawnSync('apt-get', ['update'], { stdio: 'ignore' })
  return spawnSync('apt-get', ['install', '-y', 'postgresql-client'], { stdio: 'ignore' }).status === 0
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

/**
 * Peak resident memory of this process since the last call, in MB, then reset (Linux: VmHWM,
 * reset by writing 5 to /proc/self/clear_refs). The pipeline bench runs Inlet in-process, so this
 * is Inlet's peak plus the bench's own clients (a few MB).
 */
export function takePeakRssMB(): number {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))
    writeFileSync('/proc/self/clear_refs', '5')
    return match === null ? Number.NaN : Math.round(Number(match[1]) / 1024)
  } catch {
    return Number.NaN
  }
}

/**
 * The CDC workload on `orders`: per transaction 60% inserts (rows made by `row`), 30% updates and
 * 10% deletes of `perTxn` changes; returns the changes made.
 */
export async function changes(client: pg.Client, row: (g: string) => string, transactions: number, startId: number, perTxn = 1000): Promise<number> {
  let total = 0
  const inserts = (perTxn * 6) / 10
  for (let t = 0; t < transactions; t++) {
    const base = startId + t * inserts
    const update = ((t * 300) % 99_000) + 1
    await client.query('begin')
    total += (await client.query(`insert into orders select ${row('g')} from generate_series(${base + 1}, ${base + inserts}) g`)).rowCount ?? 0
    total += (await client.query(`update orders set status = 'paid', amount = amount + 1, updated_at = now() where id between ${update} and ${update + (perTxn * 3) / 10 - 1}`)).rowCount ?? 0
    total += (await client.query(`delete from orders where id between ${base - perTxn / 10 + 1} and ${base}`)).rowCount ?? 0
    await client.query('commit')
  }
  return total
}

/** The raw drain of a slot (framing only, bench/stream-consumer.ts): the reference CDC rate. */
export function rawDrain(url: string, slot: string, expected: number): Promise<{ seconds: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(PROJECT_ROOT, 'dist', 'bench', 'stream-consumer.js'), 'raw', url, slot, 'inlet_pub', String(expected)], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d))
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out) as { seconds: number }) : reject(new Error(`raw drain exited ${code}`))))
  })
}
