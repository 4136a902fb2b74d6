/**
 * Destinations by URL scheme: the one place that knows which engines exist. A new destination is
 * a folder beside `duckdb/` implementing destination.ts, plus one entry here.
 */
import { resolve } from 'node:path'
import { InletError } from '../errors/inlet-error.js'
import { redactSecrets } from '../postgres/connection-settings.js'
import type { Destination, DestinationOptions } from './destination.js'
import { DuckDbDestination } from './duckdb/duckdb-destination.js'
import { IcebergDestination } from './iceberg/iceberg-destination.js'

interface DestinationKind {
  /** What follows the scheme, for help and errors. */
  readonly form: string
  open(rest: string, options: DestinationOptions): Promise<Destination>
  /** The destination's `localPath` (its run's control socket is named after it), without opening it. */
  localPath(rest: string): string
}

const KINDS: Record<string, DestinationKind> = {
  duckdb: { form: 'duckdb:PATH', open: (path, options) => DuckDbDestination.open(path, options), localPath: (path) => resolve(path) },
  iceberg: { form: 'iceberg:file:///PATH or iceberg:s3://BUCKET/PREFIX?catalog=...', open: (rest, options) => IcebergDestination.open(rest, options), localPath: (rest) => IcebergDestination.mirrorPath(rest) },
}

export const DESTINATION_FORMS = Object.values(KINDS).map((k) => k.form)

/** Splits `scheme:rest`; undefined when the scheme is not a known destination. */
export function parseDestination(url: string): { scheme: string; rest: string } | undefined {
  const match = /^([a-z][a-z0-9+.-]*):(.+)$/.exec(url)
  if (match === null || KINDS[match[1] as string] === undefined) return undefined
  return { scheme: match[1] as string, rest: match[2] as string }
}

export async function openDestination(url: string, options: DestinationOptions = {}): Promise<Destination> {
  const parsed = parseDestination(url)
  if (parsed === undefined) throw new InletError('INLET-C004', `The destination "${redactSecrets(url)}" is not one Inlet knows.`, { fix: `Use ${DESTINATION_FORMS.join(' or ')}.` })
  return (KINDS[parsed.scheme] as DestinationKind).open(parsed.rest, options)
}

/** The error of openDestination() when another process holds the destination (a run, a shell). */
export function destinationHeld(error: unknown): boolean {
  return error instanceof InletError && error.code === 'INLET-D001' && error.details?.held === true
}

/** The local path of a destination URL (see DestinationKind.localPath); the URL must be a known one. */
export function localPathOf(url: string): string {
  const parsed = parseDestination(url)
  if (parsed === undefined) throw new InletError('INLET-C004', `The destination "${redactSecrets(url)}" is not one Inlet knows.`, { fix: `Use ${DESTINATION_FORMS.join(' or ')}.` })
  return (KINDS[parsed.scheme] as DestinationKind).localPath(parsed.rest)
}

/** How status and errors name a destination: a DuckDB file by its path, others by URL (a password in it hidden). */
export function displayOf(url: string): string {
  return url.startsWith('duckdb:') ? url.slice('duckdb:'.length) : redactSecrets(url)
}
