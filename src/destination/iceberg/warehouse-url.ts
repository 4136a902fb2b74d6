/**
 * The Iceberg destination's URL (what follows `iceberg:`):
 *
 *   file:///PATH[?[retention_minutes=M&]catalog=CONNECTION]
 *   s3://BUCKET[/PREFIX]?[retention_minutes=M&][endpoint=URL&][region=R&][path_style=true&][mirror=DIR&][catalog_name=N&][catalog_schema=S&]catalog=CONNECTION
 *
 * `catalog` is the last parameter and takes the rest of the text, so that a connection string
 * with its own `?sslmode=...` needs no escaping. One string carries it all, so `inlet status`,
 * `query` and `refresh` read the same destination from `--destination` or `inlet.yaml` alike.
 * Without `endpoint` and `region` the AWS variables apply (`AWS_ENDPOINT_URL_S3`,
 * `AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_DEFAULT_REGION`); credentials never appear here.
 */
import { join, resolve } from 'node:path'
import { InletError } from '../../errors/inlet-error.js'
import { parseConnectionString, redactSecrets, type ConnectionSettings } from '../../postgres/connection-settings.js'
import type { S3Settings } from './s3-storage.js'

type Env = Readonly<Record<string, string | undefined>>

export interface WarehouseSpec {
  /** S3 settings, or undefined for a local directory. */
  readonly s3: S3Settings | undefined
  /** The local warehouse directory (file) or the mirror's directory (S3). */
  readonly path: string | undefined
  /** Where the local DuckDB mirror and Inlet's scratch live. */
  readonly mirrorDir: string
  readonly catalog: { readonly connection: ConnectionSettings; readonly name: string; readonly schema: string } | undefined
  /** How long snapshots stay readable (time travel) before they expire. */
  readonly retentionMs: number
  /** The URL as printed: the catalog's password, if one was given, hidden. */
  readonly display: string
}

const PARAMETERS = new Set(['retention_minutes', 'endpoint', 'region', 'path_style', 'mirror', 'catalog_name', 'catalog_schema', 'catalog'])
const FORM = 'iceberg:file:///PATH or iceberg:s3://BUCKET/PREFIX?catalog=postgresql://USER@HOST/DB'

export function parseWarehouse(rest: string, env: Env = process.env): WarehouseSpec {
  const at = rest.indexOf('?')
  const base = at < 0 ? rest : rest.slice(0, at)
  const params = parameters(at < 0 ? '' : rest.slice(at + 1), rest)
  const catalogText = params.get('catalog')
  const catalog = catalogText === undefined ? undefined : {
    connection: parseConnectionString(catalogText, env),
    name: params.get('catalog_name') ?? 'inlet',
    schema: params.get('catalog_schema') ?? 'iceberg_catalog',
  }
  const display = `iceberg:${redactSecrets(rest)}`
  const minutes = Number(params.get('retention_minutes') ?? '60')
  if (params.get('retention_minutes') === '' || !Number.isFinite(minutes) || minutes < 0) throw refused(`retention_minutes must be a number of minutes, not "${params.get('retention_minutes')}"`, rest)
  const retentionMs = minutes * 60_000
  if (base.startsWith('file://')) {
    const path = resolve(base.slice('file://'.length))
    for (const p of ['endpoint', 'region', 'path_style', 'mirror']) if (params.has(p)) throw refused(`${p}= applies to s3:// warehouses only`, rest)
    return { s3: undefined, path, mirrorDir: join(path, '_inlet'), catalog, retentionMs, display }
  }
  const s3 = /^s3:\/\/([^/?]+)(?:\/(.*))?$/.exec(base)
  if (s3 !== null) {
    const bucket = s3[1] as string
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) throw refused(`"${bucket}" is not a valid bucket name (3 to 63 lower-case letters, digits, dots and hyphens)`, rest)
    const prefix = (s3[2] ?? '').replace(/^\/+|\/+$/g, '')
    if (prefix.split('/').some((p) => p === '..' || p === '.')) throw refused('the prefix may not hold "." or ".." parts', rest)
    if (catalog === undefined) {
      throw new InletError('INLET-C004', `The Iceberg destination ${display} names no catalog: on object storage the catalog is the commit point (S3 has no atomic create of the next metadata file).`, {
        fix: `Add a PostgreSQL database for the JDBC catalog as the last parameter: iceberg:${base}?catalog=postgresql://USER@HOST/DB (its password from PGPASSWORD or ~/.pgpass).`,
      })
    }
    const endpoint = params.get('endpoint') ?? env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL
    const pathStyle = params.has('path_style') ? params.get('path_style') === 'true' : endpoint !== undefined
    const mirrorDir = resolve(params.get('mirror') ?? join('.inlet', bucket, ...prefix.split('/').filter((p) => p !== '')))
    return { s3: { bucket, prefix, endpoint, region: params.get('region') ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1', pathStyle }, path: undefined, mirrorDir, catalog, retentionMs, display }
  }
  throw refused('it names no warehouse', rest)
}

function parameters(query: string, rest: string): Map<string, string> {
  const found = new Map<string, string>()
  let text = query
  while (text !== '') {
    const eq = text.indexOf('=')
    const name = eq < 0 ? text : text.slice(0, eq)
    if (!PARAMETERS.has(name)) throw refused(`"${name}" is not a parameter it knows (${[...PARAMETERS].join(', ')})`, rest)
    if (name === 'catalog') {
      found.set(name, text.slice(eq + 1))
      break
    }
    const amp = text.indexOf('&')
    const value = eq < 0 ? '' : text.slice(eq + 1, amp < 0 ? undefined : amp)
    try {
      found.set(name, decodeURIComponent(value))
    } catch {
      throw refused(`the value of ${name} has a bad %-escape`, rest)
    }
    text = amp < 0 ? '' : text.slice(amp + 1)
  }
  return found
}

function refused(why: string, rest: string): InletError {
  return new InletError('INLET-C004', `The Iceberg destination "iceberg:${redactSecrets(rest)}" is not valid: ${why}.`, { fix: `Use ${FORM} (see the README's Iceberg section).` })
}
