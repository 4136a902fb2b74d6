/** The snapshot's progress figures: percent and time left per table, against a stale estimate too. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { copyProgressText, estimateCopy, formatEta, snapshotProgressLine } from '../src/observability/copy-progress.js'

describe('copy progress', () => {
  it('percent and ETA from the rate so far', () => {
    assert.deepEqual(estimateCopy({ rowsCopied: 250_000, estimatedRows: 1_000_000 }, 10), { percent: 25, etaSeconds: 30 })
    assert.deepEqual(estimateCopy({ rowsCopied: 1, estimatedRows: 3 }, 2), { percent: 33, etaSeconds: 4 })
  })

  it('never 100% before the end, nothing once past a stale estimate, no ETA in the first second', () => {
    assert.equal(estimateCopy({ rowsCopied: 999_999, estimatedRows: 1_000_000 }, 5).percent, 99)
    assert.deepEqual(estimateCopy({ rowsCopied: 1_200, estimatedRows: 1_000 }, 5), { percent: null, etaSeconds: null })
    assert.deepEqual(estimateCopy({ rowsCopied: 10, estimatedRows: 0 }, 5), { percent: null, etaSeconds: null })
    assert.deepEqual(estimateCopy({ rowsCopied: 10, estimatedRows: 100 }, 0.2), { percent: 10, etaSeconds: null })
    assert.deepEqual(estimateCopy({ rowsCopied: 0, estimatedRows: 100 }, 3), { percent: 0, etaSeconds: null })
  })

  it('formats the time left as a person reads it', () => {
    assert.deepEqual([0, 42, 60, 185, 3599, 3600, 7620, 90_000].map(formatEta), ['0s', '42s', '1m00s', '3m05s', '59m59s', '1h00m', '2h07m', '25h00m'])
  })

  it('one line per snapshot: tables done, the first three copies with their percent and ETA', () => {
    const now = 1_000_000
    const table = (display: string, rowsCopied: number, estimatedRows: number, finished = false) => ({ display, rowsCopied, bytesCopied: rowsCopied * 100, estimatedRows, startedAt: now - 20_000, finishedAt: finished ? now : undefined })
    const line = snapshotProgressLine([table('public.a', 10, 10, true), table('public.orders', 400_000, 1_000_000), table('public.b', 5, 0), table('public.c', 1, 2), table('public.d', 1, 2), table('public.e', 1, 2)], now)
    assert.equal(line, 'snapshot 1/6 tables done · public.orders 400k rows 38 MB 20k/s 40% ETA 30s · public.b 5 rows 500 B 0/s · public.c 1 rows 100 B 0/s 50% ETA 20s · 2 more')
    assert.equal(copyProgressText('t', { rowsCopied: 3_000_000, bytesCopied: 3 * 1024 ** 3, estimatedRows: 12_000_000 }, 100), 't 3.0M rows 3.0 GB 30k/s 25% ETA 5m00s')
  })
})
