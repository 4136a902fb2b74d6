/**
 * Opens node-postgres connections from libpq-style settings, applying libpq's `sslmode` rules, and
 * turns connection failures into coded errors that say what to check.
 */
import { existsSync, readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import type { ConnectionOptions } from 'node:tls'
import pg from 'pg'
import { InletError } from '../errors/inlet-error.js'
import { describeConnection, pgpassLine, redactSecrets, type ConnectionSettings } from './connection-settings.js'

export type SqlClient = pg.Client

export interface ConnectOptions {
  /** Extra startup parameters, e.g. `{ replication: 'database' }`. */
  readonly replication?: 'database'
  /**
   * Pin the settings that shape the text form of values, so that the snapshot (COPY) and the
   * stream (pgoutput output functions run in the walsender's session) write identical text for
   * identical values, whatever the server's or role's defaults.
   */
  readonly pinValueSettings?: boolean
}

/** Session settings for every connection that reads row values. */
export const VALUE_SETTINGS: Readonly<Record<string, string>> = {
  DateStyle: 'ISO, MDY',
  // postgres style: the one DuckDB's INTERVAL cast reads (it rejects ISO 8601 durations).
  IntervalStyle: 'postgres',
  TimeZone: 'UTC',
  extra_float_digits: '3',
  bytea_output: 'hex',
}

function startupOptions(settings: ConnectionSettings, pin: boolean): string | undefined {
  const pinned = pin ? Object.entries(VALUE_SETTINGS).map(([k, v]) => `-c ${k}=${v.replace(/ /g, '\\ ')}`).join(' ') : ''
  const combined = [settings.options ?? '', pinned].filter((x) => x !== '').join(' ')
  return combined === '' ? undefined : combined
}

/** The TLS state of an open connection, for `inlet doctor`. */
export interface TlsState {
  readonly encrypted: boolean
  /** True when the server certificate was checked against a trusted root (verify-ca / verify-full). */
  readonly certificateVerified: boolean
  readonly hostnameVerified: boolean
}

/** Connects, honouring `sslmode` (prefer falls back to plain, allow falls forward to TLS). */
export async function connect(settings: ConnectionSettings, options: ConnectOptions = {}): Promise<SqlClient> {
  const attempts: Array<false | ConnectionOptions> = []
  switch (settings.sslmode) {
    case 'disable':
      attempts.push(false)
      break
    case 'allow':
      attempts.push(false, tlsOptions(settings))
      break
    case 'prefer':
      attempts.push(tlsOptions(settings), false)
      break
    default:
      attempts.push(tlsOptions(settings))
  }
  const startup = startupOptions(settings, options.pinValueSettings === true)
  let lastError: unknown
  for (const [index, ssl] of attempts.entries()) {
    const client = new pg.Client({
      host: settings.host,
      port: settings.port,
      database: settings.database,
      user: settings.user,
      // undefined lets node-postgres consult ~/.pgpass (or PGPASSFILE), as libpq does.
      password: settings.password,
      ssl,
      application_name: settings.applicationName,
      connectionTimeoutMillis: settings.connectTimeoutSeconds * 1000,
      ...(startup === undefined ? {} : { options: startup }),
      ...(options.replication === undefined ? {} : { replication: options.replication }),
    } as pg.ClientConfig)
    // A connection that dies later must not crash the process with an unhandled 'error' event;
    // the next query on it fails with a clear error instead.
    client.on('error', () => undefined)
    try {
      await client.connect()
      return client
    } catch (err) {
      lastError = err
      await client.end().catch(() => undefined)
      const isLast = index === attempts.length - 1
      if (isLast || !isFallbackWorthy(err, ssl !== false)) break
    }
  }
  throw classifyConnectError(lastError, settings)
}

/** Reads TLS state of an open connection (pg_stat_ssl), with what `sslmode` verified. */
export async function readTlsState(client: SqlClient, settings: ConnectionSettings): Promise<TlsState> {
  const { rows } = await client.query<{ ssl: boolean | null }>(
    /* sql */ `select ssl from pg_catalog.pg_stat_ssl where pid = pg_catalog.pg_backend_pid()`,
  )
  const encrypted = rows[0]?.ssl === true
  const verifies = settings.sslmode === 'verify-ca' || settings.sslmode === 'verify-full'
  return {
    encrypted,
    certificateVerified: encrypted && (verifies || (settings.sslmode === 'require' && settings.sslrootcert !== undefined)),
    hostnameVerified: encrypted && settings.sslmode === 'verify-full',
  }
}

function tlsOptions(s: ConnectionSettings): ConnectionOptions {
  const readFile = (path: string, what: string): string => {
    try {
      return readFileSync(path, 'utf8')
    } catch (cause) {
      throw new InletError('INLET-C005', `Cannot read the ${what} file ${path}.`, { cause })
    }
  }
  const clientCert = {
    ...(s.sslcert === undefined ? {} : { cert: readFile(s.sslcert, 'sslcert') }),
    ...(s.sslkey === undefined ? {} : { key: readFile(s.sslkey, 'sslkey') }),
  }
  const verify = s.sslmode === 'verify-ca' || s.sslmode === 'verify-full' || (s.sslmode === 'require' && s.sslrootcert !== undefined)
  if (!verify) return { rejectUnauthorized: false, ...clientCert }

  let ca: string | undefined
  if (s.sslrootcert === 'system') {
    ca = undefined // Node's bundled and system roots
  } else {
    const path = s.sslrootcert ?? join(homedir(), '.postgresql', 'root.crt')
    if (s.sslrootcert === undefined && !existsSync(path)) {
      throw new InletError('INLET-C005', `sslmode=${s.sslmode} needs a root certificate, and ${path} does not exist.`, {
        fix: 'Add sslrootcert=/path/to/ca.pem to the connection string (your provider\'s CA bundle), or sslrootcert=system to trust the system\'s roots.',
      })
    }
    ca = readFile(path, 'sslrootcert')
  }
  return {
    rejectUnauthorized: true,
    ...(ca === undefined ? {} : { ca }),
    ...clientCert,
    // verify-ca checks the chain only; verify-full also checks the host name (Node's default).
    ...(s.sslmode === 'verify-full' ? {} : { checkServerIdentity: () => undefined }),
  }
}

function isFallbackWorthy(err: unknown, triedTls: boolean): boolean {
  const message = err instanceof Error ? err.message : ''
  if (triedTls) return /does not support SSL/i.test(message)
  // allow: plain was refused by pg_hba (hostssl only), so try TLS.
  return (err as { code?: string } | undefined)?.code === '28000'
}

const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED', 'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_UNTRUSTED',
  'ERR_SSL_WRONG_VERSION_NUMBER', 'EPROTO',
])
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET'])

/** Maps a failure to connect to a coded error that names the target (never its password). */
export function classifyConnectError(err: unknown, s: ConnectionSettings): InletError {
  if (err instanceof InletError) return err
  const target = describeConnection(s)
  const code = (err as { code?: string } | undefined)?.code ?? ''
  const message = err instanceof Error ? redactSecrets(err.message) : String(err)
  const cause = err instanceof Error ? Object.assign(new Error(message), { code }) : err
  if (/password must be a string/i.test(message) && s.password === undefined) {
    return new InletError('INLET-N002', `The server asks for ${s.user}'s password, and none was given: not in the URL, PGPASSWORD or ~/.pgpass.`, {
      cause,
      fix: `export PGPASSWORD=... (from your secret store), or add a line to ~/.pgpass (chmod 600): ${pgpassLine(s)}`,
    })
  }
  if (code === '28P01' || code === '28000' || /password authentication failed|no pg_hba\.conf entry|password must be a string|SASL/i.test(message)) {
    return new InletError('INLET-N002', `Authentication to ${target} failed: ${message}.`, {
      cause,
      fix: 'Check the password (URL, PGPASSWORD or ~/.pgpass) and that pg_hba.conf allows this user, database and client address.',
    })
  }
  if (code === '3D000') {
    return new InletError('INLET-N004', `Database "${s.database}" does not exist on ${s.host}:${s.port}.`, { cause })
  }
  if (TLS_CODES.has(code) || /SSL|certificate|TLS/i.test(message)) {
    return new InletError('INLET-N003', `TLS with ${target} failed (sslmode=${s.sslmode}): ${message}.`, {
      cause,
      fix: 'Point sslrootcert at the CA that signed the server certificate, or check the server\'s ssl settings.',
    })
  }
  if (NETWORK_CODES.has(code) || /timeout|terminated unexpectedly|ECONNREFUSED/i.test(message) || code === '57P03' || code === '53300') {
    return new InletError('INLET-N001', `Cannot reach PostgreSQL at ${s.host}:${s.port} as ${s.user}: ${message}.`, {
      cause,
      fix: 'Check the host and port, firewall or security-group rules, and that the server is running.',
    })
  }
  return new InletError('INLET-N001', `Connecting to ${target} failed: ${message}.`, { cause })
}
