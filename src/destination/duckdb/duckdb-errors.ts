/**
 * DuckDB's failures in Inlet's terms: a write that could not be made durable is INLET-D002 (with
 * the disk named when it is full), so that the pipeline reports it and confirms nothing of it.
 */
import { InletError } from '../../errors/inlet-error.js'
import type { TableTarget } from '../../model/table-binding.js'

const FULL_DISK = /no space|disk is full|ENOSPC|disk full|quota/i
const FREE_SPACE = 'Free disk space where the DuckDB file lives (or move it to a larger disk), then rerun inlet run: nothing past the last checkpoint was confirmed to the source, so nothing is lost.'
const NOTHING_LOST = 'Nothing past the last checkpoint was confirmed to the source; fix the cause and rerun inlet run.'

/**
 * A write (of a batch, a table or the checkpoint) that could not be made durable. DuckDB's message
 * names the failing conversion by its value, so only its first words before any quoted value are
 * kept: row values never reach logs or the destination's last error.
 */
export function writeFailure(cause: unknown, target?: TableTarget): InletError {
  if (cause instanceof InletError) return cause
  const message = withoutValues((cause as Error).message?.split('\n')[0] ?? String(cause))
  const full = FULL_DISK.test(message)
  const what = target === undefined ? 'a batch into the destination' : `${target.display} into ${target.destSchema}.${target.destName}`
  return new InletError('INLET-D002', `Writing ${what} failed${full ? ' because its disk is full' : ''}: ${message}`, { cause: new Error(message), fix: full ? FREE_SPACE : NOTHING_LOST })
}

/** DuckDB's classes of error whose messages carry the value they refused, quoted or not. */
const VALUE_ERRORS = /^(Conversion|Invalid Input|Constraint|Out of Range) Error\b/

/** A write refused a value (DuckDB's own message, or one writeFailure made of it). */
export function isValueError(error: unknown): boolean {
  return /(^|: )(Conversion|Invalid Input|Out of Range) Error\b/.test((error as Error)?.message ?? '')
}

/**
 * A DuckDB message without row values: an error about a value keeps its class and the type it
 * was converted to ('Could not convert string "NaN" to DECIMAL(10,2)', 'Type INT32 with value
 * 99999 can't be cast ... INT16', 'Malformed JSON ... Input: "…"'); any other keeps its words,
 * with quoted strings longer than an identifier dropped.
 */
export function withoutValues(message: string): string {
  const valueError = VALUE_ERRORS.exec(message)
  if (valueError !== null) {
    const type = /\bto (?:type )?([A-Z][A-Z0-9_]*(?:\(\d+(?:,\s*\d+)?\))?(?:\[\])*)\s*(?:failed\b.*)?$/.exec(message)?.[1] ?? /destination type ([A-Z][A-Z0-9_]*)/.exec(message)?.[1]
    return `${valueError[0]}: ${type === undefined ? 'a value was refused' : `a value could not be converted to ${type}`} (row values are left out of messages)`
  }
  return message.replace(/'(?:[^']|'')*'/g, '…').replace(/"(?:[^"]|"")*"/g, (m) => (m.length > 66 ? '"…"' : m))
}

/** DuckDB could not open the file: held by another process (`details.held`), or not a database. */
export function openFailure(path: string, cause: unknown): InletError {
  const message = (cause as Error).message
  const lock = /Conflicting lock is held in (.*) \(PID (\d+)\)/.exec(message)
  return new InletError('INLET-D001', lock !== null ? `The destination ${path} is held by another process (${lock[1]}, PID ${lock[2]}).` : `The destination ${path} cannot be opened: ${message.split('\n')[0]}`, {
    cause,
    fix: lock !== null ? 'DuckDB allows one writing process per file: stop the other process (inlet run, a DuckDB shell) or use another file.' : 'Check that the file is a DuckDB database and the directory is writable.',
    details: { held: lock !== null },
  })
}
