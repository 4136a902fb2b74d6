/**
 * Destinations by URL scheme: the one place that knows which engines exist. A new destination is
 * a folder beside `duckdb/` implementing destination.ts, plus one entry here.
 */
import { InletError } from '../errors/inlet-error.js'
import type { Destination, DestinationOptions } from './destination.js'
import { DuckDbDestination } from './duckdb/duckdb-destination.js'

interface DestinationKind {
  /** What follows the scheme, for help and errors. */
  readonly form: string
  open(rest: string, options: DestinationOptions): Promise<Destination>
}

const KINDS: Record<string, DestinationKind> = {
  duckdb: { form: 'duckdb:PATH', open: (path, options) => DuckDbDestination.open(path, options) },
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
  if (parsed === undefined) throw new InletError('INLET-C004', `The destination "${url}" is not one Inlet knows.`, { fix: `Use ${DESTINATION_FORMS.join(' or ')}.` })
  return (KINDS[parsed.scheme] as DestinationKind).open(parsed.rest, options)
}

/** The error of openDestination() when another process holds the destination (a run, a shell). */
export function destinationHeld(error: unknown): boolean {
  return error instanceof InletError && error.code === 'INLET-D001' && error.details?.held === true
}
