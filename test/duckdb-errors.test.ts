/**
 * Row values never reach logs or `_inlet.sources.last_error`: DuckDB's own messages, captured from
 * DuckDB 1.5 as they are, lose every value they carry, and keep what tells the cause.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { DuckDBInstance } from '@duckdb/node-api'
import { withoutValues, writeFailure } from '../src/destination/duckdb/duckdb-errors.js'

const CAPTURED: ReadonlyArray<readonly [string, string, string]> = [
  ['Conversion Error: Could not convert string "NaN" to DECIMAL(10,2)', 'NaN', 'to DECIMAL(10,2)'],
  ["Conversion Error: Could not convert string 'infinity' to INTERVAL", 'infinity', 'to INTERVAL'],
  ["Conversion Error: Could not convert string 'abc' to INT32", 'abc', 'to INT32'],
  ['Conversion Error: Malformed JSON at byte 4 of input: unexpected end of data.  Input: "[1,2"', '[1,2', 'refused'],
  ['Invalid Input Error: array with explicit bounds: [1:2]={secret,x}', 'secret', 'refused'],
  ['Conversion Error: timestamp field value out of range: "300000-01-01"', '300000', 'refused'],
  ["Conversion Error: Type INT32 with value 99999 can't be cast because the value is out of range for the destination type INT16", '99999', 'to INT16'],
  ['Invalid Input Error: Invalid input for hex digit: z', 'digit: z', 'refused'],
  ['Constraint Error: Duplicate key "id: 5" violates primary key constraint.', 'id: 5', 'refused'],
]

describe('DuckDB errors without row values', () => {
  for (const [message, value, kept] of CAPTURED) {
    it(message.slice(0, 60), () => {
      const shown = withoutValues(message)
      assert.ok(!shown.includes(value), shown)
      assert.ok(shown.includes(kept), shown)
      assert.ok(shown.startsWith(message.slice(0, message.indexOf(' Error') + 6)), shown)
    })
  }

  it('keeps identifiers and the cause of other errors', () => {
    assert.equal(withoutValues('Catalog Error: Table with name "orders" does not exist!'), 'Catalog Error: Table with name "orders" does not exist!')
    assert.match(withoutValues('IO Error: No space left on device'), /No space left/)
  })

  it('holds for what DuckDB says now, value by value, through writeFailure', async () => {
    const instance = await DuckDBInstance.create(':memory:')
    const c = await instance.connect()
    const secret = 'S3cr3t-Value'
    for (const sql of [`SELECT CAST('${secret}' AS DECIMAL(10,2))`, `SELECT CAST('${secret}' AS INTERVAL)`, `SELECT CAST(CAST('[${secret}' AS JSON) AS VARCHAR[])`, `SELECT CAST('${secret}' AS DATE)`, `SELECT error('bounds: ' || '${secret}')`]) {
      const error = await c.run(sql).then(() => undefined, (e: unknown) => e)
      assert.ok(error instanceof Error, sql)
      const failure = writeFailure(error)
      assert.equal(failure.code, 'INLET-D002')
      assert.ok(!failure.message.includes(secret) && !String((failure.cause as Error).message).includes(secret), failure.message)
    }
    c.closeSync()
    instance.closeSync()
  })
})
