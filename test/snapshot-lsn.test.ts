/**
 * SCD2: rows of a snapshot and the versions of a transaction committing at the snapshot's
 * consistent point are distinct versions. A version of the same LSN is taken for one of the same
 * transaction (a transaction staged in parts) and replaced, so the snapshot's rows must carry an
 * LSN below the consistent point, or such a transaction would overwrite history instead of
 * closing it. A real DuckDB destination through the contract.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { scratchRoot } from '../src/destination/scratch.js'
import { DuckDbDestination } from '../src/destination/duckdb/duckdb-destination.js'
import { DUCKDB_TYPES } from '../src/destination/duckdb/column-types.js'
import type { StageRow } from '../src/model/change-set.js'
import type { SourceColumn, SourceTable } from '../src/model/source-table.js'
import { bindTarget } from '../src/pipeline/table-target.js'
import { openDuck } from './support/compare.js'

const column = (name: string, attnum: number, oid: number, typeName: string): SourceColumn => ({ name, attnum, typeName, typeOid: oid, type: { kind: 'base', oid, name: typeName, typmod: -1 }, dimensions: 0, notNull: attnum === 1 })
const TABLE: SourceTable = { oid: 16400, schema: 'public', name: 'accounts', columns: [column('id', 1, 23, 'integer'), column('v', 2, 25, 'text')], key: ['id'], replicaIdentity: 'd', heaps: [] }

describe('snapshot rows and a transaction at the consistent point (SCD2)', () => {
  let dir: string
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'inlet-snaplsn-'))
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  test('the snapshot version is closed, not replaced, by a change committed at the consistent point', async () => {
    const path = join(dir, 'lake.duckdb')
    const destination = await DuckDbDestination.open(path)
    const target = bindTarget('default', TABLE, { scd: 2 }, DUCKDB_TYPES)
    const consistentPoint = 0x1b8d430n
    // (Where a run puts its snapshot chunks: DuckDB reads no file outside the scratch root.)
    mkdirSync(scratchRoot(path), { recursive: true })
    const file = join(scratchRoot(path), 'snapshot.csv')
    writeFileSync(file, '"1","from the snapshot"\n"2","untouched"\n')
    try {
      await destination.createTable(target, 'snapshot', consistentPoint)
      await destination.loadSnapshotFiles(target, [{ path: file, longestLine: 40, partition: 0 }], consistentPoint, '2026-12-01 10:00:00+00')
      await destination.finishTable(target, consistentPoint, 2)
      const row: StageRow = { op: 'V', values: ['1', 'changed at the consistent point'], toast: null, lookup: null, lsn: String(consistentPoint), ts: '2026-12-01 10:00:01+00', end: null, first: true, n: 1, group: 0, part: null }
      const staged = await destination.stage(target, [{ kind: 'rows', target, rows: [row] }])
      await destination.commit({ swaps: [], changes: [staged], checkpoint: { source: 'default', lsn: consistentPoint + 0x30n, commitTime: '2026-12-01 10:00:01+00', tables: [{ schema: 'public', table: 'accounts', commitTime: '2026-12-01 10:00:01+00' }] } })
    } finally {
      await destination.close()
    }
    const { duck, close } = await openDuck(path)
    try {
      const rows = (await (await duck.runAndReadAll(`SELECT id, v, "__END_AT" IS NULL AS current, _inlet_lsn < ${consistentPoint} AS before FROM public.accounts ORDER BY id, "__START_AT"`)).getRowObjectsJS()) as unknown[]
      assert.deepEqual(rows, [
        { id: 1, v: 'from the snapshot', current: false, before: true },
        { id: 1, v: 'changed at the consistent point', current: true, before: false },
        { id: 2, v: 'untouched', current: true, before: true },
      ])
    } finally {
      close()
    }
  })
})
