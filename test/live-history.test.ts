/** The dashboard's chart history: rates from the run's counters, bounded, no negative rate across a restart. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { LiveHistory } from '../src/observability/live-history.js'
import { RunMonitor } from '../src/observability/run-monitor.js'

describe('live history', () => {
  it('changes per second from the run counters, lag and slot figures beside them', () => {
    const monitor = new RunMonitor()
    const source = monitor.source('shop', 'inlet_shop')
    source.phase = 'streaming'
    source.checkpoint = 1000n
    source.serverLsn = 1500n
    const orders = source.table('public.orders', 'public.orders')
    const history = new LiveHistory()
    history.sampleMonitor(monitor, 10_000)
    orders.applied.insert += 300
    orders.applied.delete += 100
    source.recordSlot({ retainedBytes: 4096, safeWalSize: 1 << 20 } as never, 1500n)
    history.sampleMonitor(monitor, 12_000)
    const [first, second] = history.toJSON().shop ?? []
    assert.equal(first?.changesPerSecond, null, 'no rate from one sample')
    assert.equal(second?.changesPerSecond, 200)
    assert.equal(second?.lagBytes, 500)
    assert.equal(second?.lagSeconds, 0)
    assert.equal(second?.retainedBytes, 4096)
    assert.equal(second?.safeWalSize, 1 << 20)
  })

  it('keeps ten minutes, and a counter that starts again gives no rate rather than a negative one', () => {
    const history = new LiveHistory()
    const report = (applied: number | null) => ({ destination: 'd', run: null, destinationHeld: false, sources: [{ source: 'crm', slot: 's', phase: null, checkpointLsn: null, lastCommitTime: null, lagBytes: 0, lagSeconds: 0, slotStatus: null, slotError: null, lastError: null, tables: [{ table: 't', destination: 't', phase: 'streaming', rows: 1, refreshPending: false, lastCommitTime: null, lagBytes: null, lagSeconds: null, copy: null, applied: applied === null ? null : { insert: applied, update: 0, delete: 0, truncate: 0 } }] }] })
    for (let i = 0; i < 700; i++) history.sampleStatus(report(i * 10), i * 1000)
    const samples = history.toJSON().crm ?? []
    assert.equal(samples.length, 600)
    assert.equal(samples.at(-1)?.changesPerSecond, 10)
    history.sampleStatus(report(5), 701_000)
    assert.equal(history.toJSON().crm?.at(-1)?.changesPerSecond, null)
    history.sampleStatus(report(null), 702_000)
    assert.equal(history.toJSON().crm?.at(-1)?.changesPerSecond, null, 'no run: no rate')
  })
})
