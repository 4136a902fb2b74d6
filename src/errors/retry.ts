/**
 * The one retry policy: whether an error is worth a new connection and a resume from the
 * checkpoint, decided by the catalogue's `retryable` flag (src/errors/codes.ts) for Inlet's own
 * errors, and by SQLSTATE class or socket error for the drivers' errors beneath them.
 */
import { ERROR_CODES } from './codes.js'
import { InletError } from './inlet-error.js'

/** SQLSTATEs of a server going away or not there yet: admin shutdown, crash shutdown, starting up, connection failures. */
const TRANSIENT_SQLSTATES = new Set(['57P01', '57P02', '57P03', '08000', '08001', '08003', '08006'])
const TRANSIENT_SOCKET = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT'])

/**
 * Whether a new attempt may succeed without the user changing anything: the network or the
 * server, not the data or the setup. The first Inlet error in the cause chain decides; below it,
 * a transient SQLSTATE or socket error does.
 */
export function isRetryable(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof InletError) return ERROR_CODES[e.code].retryable || causedByTransient(e.cause)
    if (transient(e)) return true
  }
  return false
}

function causedByTransient(cause: unknown): boolean {
  for (let e: unknown = cause, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) if (transient(e)) return true
  return false
}

function transient(e: Error): boolean {
  const code = (e as { code?: unknown }).code
  if (typeof code === 'string' && (TRANSIENT_SQLSTATES.has(code) || TRANSIENT_SOCKET.has(code))) return true
  return /Connection terminated|terminating connection/i.test(e.message)
}
