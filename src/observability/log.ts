/**
 * Structured logs: one JSON object per line on stderr when it is not a terminal (for log
 * shippers), short human lines on a terminal, where a single status line is redrawn in place.
 * Logs carry table names, LSNs, counts and sizes; never row values or secrets.
 */
import { redactSecrets } from '../postgres/connection-settings.js'

export type LogFields = Record<string, string | number | bigint | boolean | null | undefined>

export interface Logger {
  info(event: string, message: string, fields?: LogFields): void
  warn(event: string, message: string, fields?: LogFields): void
  /** A transient status line (terminal only). */
  status(text: string): void
}

export function createLogger(options: { json?: boolean; quiet?: boolean; stream?: NodeJS.WriteStream } = {}): Logger {
  const stream = options.stream ?? process.stderr
  const json = options.json ?? stream.isTTY !== true
  let statusShown = false
  const clearStatus = () => {
    if (statusShown) {
      stream.write('\r\x1b[2K')
      statusShown = false
    }
  }
  const write = (level: string, event: string, message: string, fields: LogFields = {}) => {
    if (options.quiet === true && level === 'info') return
    if (json) {
      const record: Record<string, unknown> = { time: new Date().toISOString(), level, event, message: redactSecrets(message) }
      for (const [k, v] of Object.entries(fields)) if (v !== undefined) record[k] = typeof v === 'bigint' ? v.toString() : v
      stream.write(`${JSON.stringify(record)}\n`)
      return
    }
    clearStatus()
    stream.write(`${new Date().toISOString().slice(11, 19)} ${level === 'warn' ? 'warning: ' : ''}${redactSecrets(message)}\n`)
  }
  return {
    info: (event, message, fields) => write('info', event, message, fields),
    warn: (event, message, fields) => write('warn', event, message, fields),
    status: (text) => {
      if (json || options.quiet === true || stream.isTTY !== true) return
      stream.write(`\r\x1b[2K${text.slice(0, (stream.columns ?? 120) - 1)}`)
      statusShown = true
    },
  }
}

export const silentLogger: Logger = { info: () => undefined, warn: () => undefined, status: () => undefined }

export function formatCount(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(n >= 1e7 ? 0 : 1)}M`
  if (n >= 1e4) return `${(n / 1e3).toFixed(0)}k`
  return String(n)
}

export function formatBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(1)} GB`
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(0)} MB`
  if (n >= 1024) return `${(n / 1024).toFixed(0)} kB`
  return `${n} B`
}
