/**
 * Live charts of one source over the last minutes (uPlot, loaded as a script by the page): lag in
 * seconds and in WAL bytes, changes applied per second, and the WAL the slot retains beside what the server may
 * still write before it invalidates the slot.
 */
import type { Sample } from './types.js'

interface UPlotInstance {
  setData(data: Array<Array<number | null>>): void
  setSize(size: { width: number; height: number }): void
  destroy(): void
}
type UPlotCtor = new (options: unknown, data: Array<Array<number | null>>, target: HTMLElement) => UPlotInstance

declare global {
  interface Window { uPlot?: UPlotCtor }
}

const HEIGHT = 150
/** Pixels between charts, as style.css has it. */
const GAP = 16

interface ChartSpec {
  readonly title: string
  readonly series: ReadonlyArray<{ readonly label: string; readonly stroke: string; readonly pick: (s: Sample) => number | null }>
  readonly unit: (v: number) => string
}

const SPECS: readonly ChartSpec[] = [
  { title: 'Lag (seconds)', series: [{ label: 'lag s', stroke: '#c2410c', pick: (s) => s.lagSeconds }], unit: (v) => `${v.toFixed(v < 10 ? 1 : 0)} s` },
  { title: 'Lag (WAL bytes behind)', series: [{ label: 'lag bytes', stroke: '#b45309', pick: (s) => s.lagBytes }], unit: (v) => bytes(v) },
  { title: 'Changes applied per second', series: [{ label: 'changes/s', stroke: '#2563eb', pick: (s) => s.changesPerSecond }], unit: (v) => v.toFixed(0) },
  {
    title: 'Slot: retained WAL and room before invalidation',
    series: [
      { label: 'retained', stroke: '#7c3aed', pick: (s) => s.retainedBytes },
      { label: 'safe_wal_size', stroke: '#dc2626', pick: (s) => (s.safeWalSize === null ? null : Math.max(0, s.safeWalSize)) },
    ],
    unit: (v) => bytes(v),
  },
]

/** At most four digits before the unit (1000 MB shows as 0.98 GB), so axis labels stay short. */
export function bytes(n: number): string {
  if (n >= 1000 * 1024 ** 2) return `${(n / 1024 ** 3).toFixed(n >= 10 * 1024 ** 3 ? 0 : 2)} GB`
  if (n >= 1000 * 1024) return `${(n / 1024 ** 2).toFixed(1)} MB`
  if (n >= 1000) return `${(n / 1024).toFixed(1)} kB`
  return `${Math.round(n)} B`
}

/** The charts of one source, drawn into `host` and fed new samples on each update. */
export class SourceCharts {
  private readonly plots: UPlotInstance[] = []
  private readonly boxes: HTMLElement[] = []

  constructor(private readonly host: HTMLElement) {
    const ctor = window.uPlot
    for (const spec of SPECS) {
      const box = document.createElement('figure')
      box.className = 'chart'
      const caption = document.createElement('figcaption')
      caption.textContent = spec.title
      box.append(caption)
      host.append(box)
      this.boxes.push(box)
      if (ctor === undefined) continue
      const options = {
        width: this.width(),
        height: HEIGHT,
        legend: { show: spec.series.length > 1, live: false },
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true } },
        axes: [{}, { values: (_u: unknown, ticks: number[]) => ticks.map(spec.unit), size: 72 }],
        series: [{}, ...spec.series.map((s) => ({ label: s.label, stroke: s.stroke, width: 2, spanGaps: false }))],
      }
      this.plots.push(new ctor(options, [[], ...spec.series.map(() => [])], box))
    }
  }

  update(samples: readonly Sample[]): void {
    const x = samples.map((s) => s.at / 1000)
    SPECS.forEach((spec, i) => this.plots[i]?.setData([x, ...spec.series.map((s) => samples.map(s.pick))]))
  }

  resize(): void {
    for (const plot of this.plots) plot.setSize({ width: this.width(), height: HEIGHT })
  }

  destroy(): void {
    for (const plot of this.plots) plot.destroy()
    this.host.replaceChildren()
  }

  /** Two across on a wide screen, one under the other on a phone (the grid follows the same rule). */
  private width(): number {
    const available = this.host.clientWidth || 320
    const columns = available >= 700 ? 2 : 1
    this.host.style.gridTemplateColumns = `repeat(${columns}, minmax(0, 1fr))`
    return Math.max(200, Math.floor((available - (columns - 1) * GAP) / columns) - 8)
  }
}
