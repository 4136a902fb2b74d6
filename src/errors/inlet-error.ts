/**
 * The one error type Inlet throws on purpose. It carries a stable code, a message that says what to
 * do, an optional fix (SQL or a command), and the underlying cause as the standard ES2022 `cause`,
 * never pasted into the message.
 */
import { ERROR_CODES, exitCodeFor, type ErrorCode } from './codes.js'

export interface InletErrorOptions {
  /** The exact command or SQL that fixes the problem, when there is one. */
  fix?: string
  cause?: unknown
  details?: Record<string, unknown>
}

export class InletError extends Error {
  readonly code: ErrorCode
  readonly fix: string | undefined
  readonly details: Record<string, unknown> | undefined

  constructor(code: ErrorCode, message: string, options: InletErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'InletError'
    this.code = code
    this.fix = options.fix
    this.details = options.details
  }

  get retryable(): boolean {
    return ERROR_CODES[this.code].retryable
  }

  get exitCode(): number {
    return exitCodeFor(this.code)
  }
}

export function isInletError(err: unknown): err is InletError {
  return err instanceof InletError
}

/** The short text of an underlying cause, for display under the message. */
export function causeText(err: unknown): string | undefined {
  if (!(err instanceof Error) || err.cause === undefined) return undefined
  const cause = err.cause
  if (cause instanceof Error) {
    const sqlstate = (cause as { code?: unknown }).code
    return typeof sqlstate === 'string' && sqlstate.length > 0 ? `${cause.message} (${sqlstate})` : cause.message
  }
  return String(cause)
}
