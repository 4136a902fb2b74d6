/**
 * How far a table's copy is: percent and time left, from the rows copied so far against the
 * planner's estimate (pg_class.reltuples). The estimate can be stale, so a copy that passes it
 * shows no percentage rather than 100% or more, and an unfinished copy never shows 100%.
 */
import { formatBytes, formatCount } from './log.js'

export interface CopyFigures {
  readonly rowsCopied: number
  readonly bytesCopied: number
  readonly estimatedRows: number
}

export interface CopyEstimate {
  /** 0 to 99 while the copy runs; null without an estimate or once the copy has passed it. */
  readonly percent: number | null
  readonly etaSeconds: number | null
}

export function estimateCopy(copy: Pick<CopyFigures, 'rowsCopied' | 'estimatedRows'>, elapsedSeconds: number): CopyEstimate {
  if (copy.estimatedRows <= 0 || copy.rowsCopied >= copy.estimatedRows) return { percent: null, etaSeconds: null }
  const percent = Math.min(99, Math.floor((copy.rowsCopied / copy.estimatedRows) * 100))
  const rate = elapsedSeconds > 0 ? copy.rowsCopied / elapsedSeconds : 0
  // Too early to tell: the first second is mostly connection and COPY start-up.
  const etaSeconds = rate > 0 && elapsedSeconds >= 1 ? Math.ceil((copy.estimatedRows - copy.rowsCopied) / rate) : null
  return { percent, etaSeconds }
}

/** 42s, 3m05s, 2h07m. */
export function formatEta(seconds: number): string {
  const s = Math.max(0, Math.round(seconds))
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
}

/** `public.orders 1.2M rows 310 MB 84k/s 37% ETA 1m52s` */
export function copyProgressText(display: string, copy: CopyFigures, elapsedSeconds: number): string {
  const rate = copy.rowsCopied / Math.max(0.001, elapsedSeconds)
  const { percent, etaSeconds } = estimateCopy(copy, elapsedSeconds)
  const share = percent === null ? '' : ` ${percent}%`
  const eta = etaSeconds === null ? '' : ` ETA ${formatEta(etaSeconds)}`
  return `${display} ${formatCount(copy.rowsCopied)} rows ${formatBytes(copy.bytesCopied)} ${formatCount(Math.round(rate))}/s${share}${eta}`
}

export interface TableCopyProgress extends CopyFigures {
  readonly display: string
  readonly startedAt: number
  readonly finishedAt: number | undefined
}

/** The status line of an initial snapshot: tables done, then the first three copies running. */
export function snapshotProgressLine(progress: readonly TableCopyProgress[], now: number): string {
  const active = progress.filter((p) => p.finishedAt === undefined)
  const parts = active.slice(0, 3).map((p) => copyProgressText(p.display, p, (now - p.startedAt) / 1000))
  const more = active.length > 3 ? ` · ${active.length - 3} more` : ''
  return `snapshot ${progress.length - active.length}/${progress.length} tables done · ${parts.join(' · ')}${more}`
}
