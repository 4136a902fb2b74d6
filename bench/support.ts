/** Helpers shared by the benchmarks. */
import { spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'

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
