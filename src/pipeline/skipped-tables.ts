/**
 * Tables the run cannot follow (see source-plan.ts) are reported, not fatal: a warning with the
 * fix, and the phase `skipped` with the reason in inlet status and the inlet_table_phase metric.
 */
import type { Logger } from '../observability/log.js'
import type { SourceMonitor } from '../observability/run-monitor.js'
import type { SkippedTable } from './source-plan.js'

export function reportSkipped(skipped: readonly SkippedTable[], live: SourceMonitor, log: Logger): void {
  for (const t of skipped) {
    const table = live.table(t.display, t.display)
    if (table.phase === 'skipped' && table.skipped?.reason === t.reason) continue
    table.phase = 'skipped'
    table.skipped = { reason: t.reason, fix: t.fix }
    log.warn('table.skipped', `${t.display} is not replicated: ${t.reason}. The other tables go on.${t.fix === undefined ? '' : ` Fix: ${t.fix}`}`, { table: t.display })
  }
}
