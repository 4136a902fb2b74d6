/**
 * libpq-compatible connection settings: a `postgres://` URL or `key=value` keywords, completed by
 * the `PG*` environment variables, with libpq's `sslmode` semantics.
 *
 * Written by hand because node-postgres' parser treats `prefer`, `require` and `verify-ca` as
 * `verify-full` (and pg's own TLS options are not libpq's), while our users paste libpq URLs from
 * their cloud consoles and expect them to behave as they do in psql.
 */
import { userInfo } from 'node:os'
import { InletError } from '../errors/inlet-error.js'

export const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const
export type SslMode = (typeof SSL_MODES)[number]

export interface ConnectionSettings {
  readonly host: string
  readonly port: number
  readonly database: string
  readonly user: string
  /** Undefined means: look it up in `~/.pgpass` (or `PGPASSFILE`), as libpq does. */
  readonly password: string | undefined
  readonly sslmode: SslMode
  readonly sslrootcert: string | undefined
  readonly sslcert: string | undefined
  readonly sslkey: string | undefined
  readonly applicationName: string
  readonly connectTimeoutSeconds: number
  /** libpq `options`: command-line options sent to the server at connection start. */
  readonly options: string | undefined
}

type Env = Readonly<Record<string, string | undefined>>

const KEYWORDS = new Set([
  'host', 'hostaddr', 'port', 'dbname', 'user', 'password', 'sslmode', 'sslrootcert', 'sslcert', 'sslkey',
  'application_name', 'connect_timeout', 'options',
])

/** Parses a libpq connection string and fills what it leaves out from `env` and libpq's defaults. */
export function parseConnectionString(text: string, env: Env = process.env): ConnectionSettings {
  const given = /^postgres(ql)?:\/\//i.test(text.trim()) ? parseUrl(text.trim()) : parseKeywords(text)
  return complete(given, env)
}

/** Settings from the environment alone (`PGHOST`, `PGDATABASE`, ...), as `psql` with no arguments. */
export function settingsFromEnv(env: Env = process.env): ConnectionSettings {
  return complete(new Map(), env)
}

/** `user@host:port/db`: safe to print; never includes the password. */
export function describeConnection(s: ConnectionSettings): string {
  const host = s.host.includes(':') && !s.host.startsWith('/') ? `[${s.host}]` : s.host
  return `${s.user}@${host}:${s.port}/${s.database}`
}

/** A URL that reproduces these settings without the password (for printing fixes, inlet.yaml, the destination's record). */
export function toSafeUrl(s: ConnectionSettings): string {
  const host = s.host.startsWith('/') ? '' : s.host.includes(':') ? `[${s.host}]` : s.host
  const params = new URLSearchParams()
  if (s.host.startsWith('/')) params.set('host', s.host)
  if (s.sslmode !== 'prefer') params.set('sslmode', s.sslmode)
  if (s.sslrootcert !== undefined) params.set('sslrootcert', s.sslrootcert)
  // A client certificate (Cloud SQL, mTLS) and the other settings go along: only the password stays out.
  if (s.sslcert !== undefined) params.set('sslcert', s.sslcert)
  if (s.sslkey !== undefined) params.set('sslkey', s.sslkey)
  if (s.options !== undefined) params.set('options', s.options)
  if (s.connectTimeoutSeconds !== 10) params.set('connect_timeout', String(s.connectTimeoutSeconds))
  if (s.applicationName !== 'inlet') params.set('application_name', s.applicationName)
  const query = params.toString()
  return `postgres://${encodeURIComponent(s.user)}@${host}:${s.port}/${encodeURIComponent(s.database)}${query ? `?${query}` : ''}`
}

/** The ~/.pgpass line for a connection, PASSWORD to fill in (libpq escapes : and \\ in each field; a socket is localhost). */
export function pgpassLine(s: Pick<ConnectionSettings, 'host' | 'port' | 'database' | 'user'>): string {
  const field = (v: string) => v.replace(/[\\:]/g, (c) => `\\${c}`)
  return [s.host.startsWith('/') ? 'localhost' : s.host, String(s.port), s.database, s.user].map(field).join(':') + ':PASSWORD'
}

/** Removes passwords from any text that might contain a connection string. */
export function redactSecrets(text: string): string {
  return text
    // The password runs to the last @ of the token (an unencoded @, /, ? or # in it stays hidden; over-redacting is fine).
    .replace(/(postgres(?:ql)?:\/\/[^:/@\s]*:)\S*@/gi, '$1***@')
    .replace(/(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)/gi, '$1***')
}

function parseUrl(text: string): Map<string, string> {
  // By hand: WHATWG URL reads postgres:///db as host "db", where libpq means the default host.
  const values = new Map<string, string>()
  const match = /^postgres(?:ql)?:\/\/([^/?#]*)(\/[^?#]*)?(\?[^#]*)?$/i.exec(text)
  const decode = (part: string) => {
    try {
      return decodeURIComponent(part)
    } catch (cause) {
      throw new InletError('INLET-C005', `The connection URL ${redactSecrets(text)} has a bad %-escape.`, { cause })
    }
  }
  if (match === null) {
    throw new InletError('INLET-C005', `The connection URL ${redactSecrets(text)} cannot be parsed.`, {
      fix: 'Use the form postgres://USER@HOST:PORT/DATABASE?sslmode=verify-full',
    })
  }
  const authority = match[1] ?? ''
  const at = authority.lastIndexOf('@')
  const userinfo = at === -1 ? '' : authority.slice(0, at)
  const hostport = at === -1 ? authority : authority.slice(at + 1)
  if (userinfo !== '') {
    const colon = userinfo.indexOf(':')
    values.set('user', decode(colon === -1 ? userinfo : userinfo.slice(0, colon)))
    if (colon !== -1) values.set('password', decode(userinfo.slice(colon + 1)))
  }
  const hostMatch = /^(\[[^\]]*\]|[^:]*)(?::(\d*))?$/.exec(hostport)
  if (hostMatch === null) throw new InletError('INLET-C005', `The host part of ${redactSecrets(text)} cannot be parsed.`, { fix: 'Percent-encode special characters of the password (@ is %40, / is %2F, # is %23, ? is %3F).' })
  const host = (hostMatch[1] ?? '').replace(/^\[|\]$/g, '')
  if (host !== '') values.set('host', decode(host))
  if (hostMatch[2] !== undefined && hostMatch[2] !== '') values.set('port', hostMatch[2])
  const path = decode((match[2] ?? '').replace(/^\//, ''))
  if (path !== '') values.set('dbname', path)
  for (const [key, value] of new URLSearchParams((match[3] ?? '').slice(1))) setKeyword(values, key, value, text)
  return values
}

function parseKeywords(text: string): Map<string, string> {
  const values = new Map<string, string>()
  // key = value pairs; values may be single-quoted with backslash escapes, as in libpq.
  const pattern = /\s*([A-Za-z_]+)\s*=\s*(?:'((?:[^'\\]|\\.)*)'|(\S*))/y
  let rest = text.trim()
  while (rest.length > 0) {
    pattern.lastIndex = 0
    const match = pattern.exec(rest)
    if (match === null || match[1] === undefined) {
      throw new InletError('INLET-C005', `The connection string "${redactSecrets(text)}" is neither a postgres:// URL nor key=value pairs.`, {
        fix: 'Use postgres://USER@HOST:PORT/DATABASE or "host=HOST port=PORT dbname=DATABASE user=USER"',
      })
    }
    const value = match[2] !== undefined ? match[2].replace(/\\(.)/g, '$1') : (match[3] ?? '')
    setKeyword(values, match[1], value, text)
    rest = rest.slice(match[0].length).trim()
  }
  return values
}

function setKeyword(values: Map<string, string>, key: string, value: string, source: string): void {
  if (!KEYWORDS.has(key)) {
    throw new InletError('INLET-C005', `Unknown connection option "${key}" in ${redactSecrets(source)}.`, {
      fix: `Remove "${key}"; supported options: ${[...KEYWORDS].join(', ')}`,
    })
  }
  values.set(key === 'hostaddr' ? 'host' : key, value)
}

function complete(given: Map<string, string>, env: Env): ConnectionSettings {
  const pick = (key: string, envName: string): string | undefined => {
    const value = given.get(key) ?? env[envName]
    return value === undefined || value === '' ? undefined : value
  }
  const host = pick('host', 'PGHOST') ?? 'localhost'
  if (host.includes(',')) {
    throw new InletError('INLET-C005', `Several hosts (${host}) are not supported: a replication slot lives on one server.`, {
      fix: 'Give the primary\'s host name only.',
    })
  }
  const user = pick('user', 'PGUSER') ?? userInfo().username
  const portText = pick('port', 'PGPORT') ?? '5432'
  const port = Number(portText)
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new InletError('INLET-C005', `The port "${portText}" is not a number between 1 and 65535.`)
  }
  const sslmode = (pick('sslmode', 'PGSSLMODE') ?? 'prefer') as SslMode
  if (!SSL_MODES.includes(sslmode)) {
    throw new InletError('INLET-C005', `Unknown sslmode "${sslmode}".`, { fix: `Use one of: ${SSL_MODES.join(', ')}` })
  }
  const timeoutText = pick('connect_timeout', 'PGCONNECT_TIMEOUT') ?? '10'
  const connectTimeoutSeconds = Number(timeoutText)
  if (!Number.isFinite(connectTimeoutSeconds) || connectTimeoutSeconds < 0) {
    throw new InletError('INLET-C005', `connect_timeout "${timeoutText}" is not a number of seconds.`)
  }
  return {
    host,
    port,
    database: pick('dbname', 'PGDATABASE') ?? user,
    user,
    password: pick('password', 'PGPASSWORD'),
    sslmode,
    sslrootcert: pick('sslrootcert', 'PGSSLROOTCERT'),
    sslcert: pick('sslcert', 'PGSSLCERT'),
    sslkey: pick('sslkey', 'PGSSLKEY'),
    applicationName: pick('application_name', 'PGAPPNAME') ?? 'inlet',
    connectTimeoutSeconds,
    options: pick('options', 'PGOPTIONS'),
  }
}
