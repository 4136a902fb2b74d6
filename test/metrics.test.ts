/**
 * The run monitor's derived figures and their Prometheus rendering: one HELP/TYPE per family,
 * cumulative histogram buckets, escaped labels, the invalidation forecast and lag.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { renderMetrics } from '../src/observability/metrics.js'
import { RunMonitor } from '../src/observability/run-monitor.js'
import type { SlotFacts } from '../src/source/preflight/facts.js'

const slot = (safeWalSize: number | null): SlotFacts => ({
  name: 'inlet_shop', plugin: 'pgoutput', slotType: 'logical', database: 'shop', temporary: false, active: true, activePid: 42, activeApplication: 'inlet',
  restartLsn: '0/1000', confirmedFlushLsn: '0/2000', walStatus: 'reserved', safeWalSize, retainedBytes: 4096, twoPhase: false, failover: false, invalidationReason: null,
})

describe('run monitor and metrics', () => {
  it('forecasts invalidation from safe_wal_size and the measured WAL rate, and none when unlimited', async () => {
    const monitor = new RunMonitor()
    const s = monitor.source('shop', 'inlet_shop')
    s.recordSlot(slot(10_000_000), 1_000_000n)
    assert.equal(s.invalidationForecastSeconds, undefined, 'no rate yet')
    await new Promise((r) => setTimeout(r, 1100))
    s.recordSlot(slot(10_000_000), 2_000_000n) // ~1 MB in ~1.1 s
    const forecast = Number(s.invalidationForecastSeconds)
    assert.ok(forecast > 8 && forecast < 13, String(forecast))
    s.recordSlot(slot(null), 2_000_000n)
    assert.equal(s.invalidationForecastSeconds, undefined)
  })

  it('lag: streaming counts only unapplied commits; otherwise time since the last applied commit', () => {
    const s = new RunMonitor().source('shop', 'inlet_shop')
    s.phase = 'streaming'
    assert.equal(s.lagSeconds, 0)
    s.oldestPendingCommit = (Date.now() - 3000) * 1000
    assert.ok(Math.abs((s.lagSeconds as number) - 3) < 0.5)
    s.oldestPendingCommit = undefined
    s.phase = 'reconnecting'
    assert.equal(s.lagSeconds, undefined)
    s.lastCommitTime = (Date.now() - 10_000) * 1000
    assert.ok(Math.abs((s.lagSeconds as number) - 10) < 0.5)
  })

  it('renders valid exposition text', () => {
    const monitor = new RunMonitor()
    const s = monitor.source('shop', 'inlet_shop')
    s.phase = 'streaming'
    s.recordSlot(slot(5000), 100n)
    const t = s.table('public."Odd ""name"""', 'public.odd')
    t.applied.insert = 7
    s.recordBatch(0.03)
    s.recordBatch(2)
    monitor.recordError(new Error('boom'), 'shop', true)
    const text = renderMetrics(monitor)
    const families = [...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1])
    assert.equal(new Set(families).size, families.length, 'one TYPE per family')
    assert.equal([...text.matchAll(/^# HELP /gm)].length, families.length)
    assert.match(text, /^inlet_changes_applied_total\{source="shop",table="public.\\"Odd \\"\\"name\\"\\"\\"",operation="insert"\} 7$/m)
    assert.match(text, /^inlet_batch_apply_seconds_bucket\{source="shop",le="0.025"\} 0$/m)
    assert.match(text, /^inlet_batch_apply_seconds_bucket\{source="shop",le="0.05"\} 1$/m)
    assert.match(text, /^inlet_batch_apply_seconds_bucket\{source="shop",le="10"\} 2$/m)
    assert.match(text, /^inlet_batch_apply_seconds_bucket\{source="shop",le="\+Inf"\} 2$/m)
    assert.match(text, /^inlet_batch_apply_seconds_count\{source="shop"\} 2$/m)
    assert.match(text, /^inlet_errors_total\{code="INLET-N001"\} 1$/m)
    assert.match(text, /^inlet_slot_status\{source="shop",slot="inlet_shop",wal_status="reserved"\} 1$/m)
    assert.match(text, /^inlet_up\{source="shop"\} 1$/m)
    for (const line of text.trimEnd().split('\n')) assert.match(line, /^(# (HELP|TYPE) \S+ .+|[a-z_]+(\{[^}]*\})? (-?[0-9.e+-]+|\+Inf|NaN))$/, line)
  })
})
