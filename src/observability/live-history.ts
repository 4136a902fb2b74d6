/**
 * The last minutes of each source's figures, one sample a second, for the dashboard's charts: lag
 * in bytes and seconds, changes applied per second, and the WAL the slot retains against what the
 * server may still write before it invalidates the slot. Kept by the run (so a page opened late,
 * or `inlet ui` asking the run, sees the minutes before it), or by `inlet ui` from the status it
 * reads when no run holds the destination. Numbers only: no row values.
 */
import type { RunMonitor } from './run-monitor.js'
import type { StatusReport } from './status-report.js'

export interface Sample {
  /** Milliseconds since 1970. */
  readonly at: number
  readonly lagBytes: number | null
  readonly lagSeconds: number | null
  /** Changes applied per second since the previous sample; null when not known (no run). */
  readonly changesPerSecond: number | null
  readonly retainedBytes: number | null
  readonly safeWalSize: number | null
}

/** Ten minutes at one sample a second. */
const KEEP = 600

export class LiveHistory {
  private readonly series = new Map<string, Sample[]>()
  private readonly applied = new Map<string, { total: number; at: number }>()

  /** From the running run's memory: no reads of the destination. */
  sampleMonitor(monitor: RunMonitor, now = Date.now()): void {
    for (const s of monitor.sources.values()) {
      let total = 0
      for (const t of s.tables.values()) total += t.applied.insert + t.applied.update + t.applied.delete + t.applied.truncate
      const lagSeconds = s.lagSeconds
      this.push(s.name, now, total, {
        lagBytes: s.checkpoint > 0n && s.serverLsn > 0n ? s.lagBytes : null,
        lagSeconds: lagSeconds === undefined ? null : lagSeconds,
        retainedBytes: s.slot?.retainedBytes ?? null,
        safeWalSize: s.slot?.safeWalSize ?? null,
      })
    }
  }

  /** From a status report (`inlet ui` with no run: no rate is known). */
  sampleStatus(report: StatusReport, now = Date.now()): void {
    for (const s of report.sources) {
      const applied = s.tables.every((t) => t.applied === null) ? undefined : s.tables.reduce((n, t) => n + (t.applied === null ? 0 : t.applied.insert + t.applied.update + t.applied.delete + t.applied.truncate), 0)
      this.push(s.source, now, applied, { lagBytes: s.lagBytes, lagSeconds: s.lagSeconds, retainedBytes: s.slotStatus?.retainedBytes ?? null, safeWalSize: s.slotStatus?.safeWalSize ?? null })
    }
  }

  /** Every source's samples, oldest first. */
  toJSON(): Record<string, readonly Sample[]> {
    return Object.fromEntries(this.series)
  }

  private push(source: string, now: number, applied: number | undefined, figures: Omit<Sample, 'at' | 'changesPerSecond'>): void {
    let samples = this.series.get(source)
    if (samples === undefined) this.series.set(source, (samples = []))
    const before = this.applied.get(source)
    let rate: number | null = null
    if (applied !== undefined) {
      // A new run counts from zero again: no negative rate across it.
      if (before !== undefined && now > before.at && applied >= before.total) rate = ((applied - before.total) * 1000) / (now - before.at)
      this.applied.set(source, { total: applied, at: now })
    }
    samples.push({ at: now, changesPerSecond: rate, ...figures })
    if (samples.length > KEEP) samples.splice(0, samples.length - KEEP)
  }
}
