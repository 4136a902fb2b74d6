/**
 * The staging CSV (stage-file.ts) read back by DuckDB's reader as the apply statements read it:
 * every value, NULL versus empty string, quotes, commas, CR/LF, unicode and long values survive,
 * in the row file and in the key file.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DuckDBInstance } from '@duckdb/node-api'
import { csvSource, writeStageFile } from '../src/destination/duckdb/stage-file.js'
import { stageMetaColumns } from '../src/destination/duckdb/apply-sql.js'
import type { StageRow } from '../src/model/change-set.js'
import type { SourceColumn } from '../src/model/source-table.js'
import type { TableTarget } from '../src/model/table-binding.js'

const TRICKY = ['', 'NULL', '"', '""', 'a,b', 'say "hi", ok', 'line\nbreak', 'cr\r\nlf', '\r', ' lead', 'trail ', 'héllo 🎉', '\\N', '\t', 'x'.repeat(300_000)]

// Only what the writer reads of a target: the columns' types (integer is written bare, text quoted) and the key.
function target(bare: boolean[], key: number[]): TableTarget {
  const source = (b: boolean, i: number): SourceColumn => ({ name: `c${i}`, attnum: i + 1, typeName: b ? 'integer' : 'text', typeOid: b ? 23 : 25, type: { kind: 'base', oid: b ? 23 : 25, name: b ? 'integer' : 'text', typmod: -1 }, dimensions: 0, notNull: false })
  return { columns: bare.map((b, i) => ({ name: `c${i}`, source: source(b, i), type: { name: b ? 'INTEGER' : 'VARCHAR' } })), key } as unknown as TableTarget
}

function row(values: (string | null)[], extra: Partial<StageRow> = {}): StageRow {
  return { op: 'U', values, toast: null, lookup: null, lsn: '42', ts: null, end: null, first: false, n: 1, group: 0, part: null, ...extra }
}

describe('staging CSV', () => {
  it('reads back every value and NULL exactly, with the key file alongside', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'inlet-stage-'))
    const instance = await DuckDBInstance.create(':memory:')
    const connection = await instance.connect()
    try {
      const t = target([false, true, false], [0])
      const rows: StageRow[] = TRICKY.map((v, i) => row([v, String(i), i % 2 === 0 ? null : v]))
      rows.push(row(['k', null, null], { op: 'D', toast: '010', lookup: ['a "b",\nc'], ts: '2024-01-01 00:00:00+00', end: 'e,"', first: true, n: 3, group: 7 }))
      const file = join(dir, 'rows.csv')
      const keys = join(dir, 'keys.csv')
      writeStageFile(file, t, rows, keys)

      const names = ['c0', 'c1', 'c2', ...stageMetaColumns(t)]
      const read = (await connection.runAndReadAll(`SELECT * FROM ${csvSource(file, names)}`)).getRows()
      assert.equal(read.length, rows.length)
      rows.forEach((r, i) => {
        const got = read[i] as unknown[]
        assert.deepEqual(got.slice(0, 3), r.values, `row ${i} values`)
        assert.deepEqual(got.slice(3), [r.op, r.toast, r.lookup?.[0] ?? null, r.lsn, r.ts, r.end, r.first ? '1' : null, String(r.n), String(r.group)], `row ${i} meta`)
      })
      const keyRows = (await connection.runAndReadAll(`SELECT * FROM ${csvSource(keys, ['c0'])}`)).getRows()
      assert.deepEqual(
        keyRows.map((k) => k[0]),
        rows.map((r) => r.values[0]),
      )
    } finally {
      connection.closeSync()
      instance.closeSync()
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('reads several files in one statement, as the snapshot loader does', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'inlet-stage-'))
    const instance = await DuckDBInstance.create(':memory:')
    const connection = await instance.connect()
    try {
      const t = target([false], [0])
      const files = [0, 1, 2].map((n) => join(dir, `f${n}.csv`))
      files.forEach((f, n) => writeStageFile(f, t, [row([`a${n}`]), row([`b${n}`])]))
      const names = ['c0', ...stageMetaColumns(t)]
      const read = (await connection.runAndReadAll(`SELECT c0 FROM ${csvSource(files, names)} ORDER BY c0`)).getRows()
      assert.deepEqual(
        read.map((r) => r[0]),
        ['a0', 'a1', 'a2', 'b0', 'b1', 'b2'],
      )
    } finally {
      connection.closeSync()
      instance.closeSync()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
