import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { defaultSlotName, parseConfigText, resolveConfig } from '../src/config/load.js'
import { matchesPattern, parseTablePattern } from '../src/config/table-pattern.js'
import { InletError } from '../src/errors/inlet-error.js'

const code = (fn: () => unknown): string => {
  try {
    fn()
  } catch (e) {
    if (e instanceof InletError) return e.code
    throw e
  }
  return 'no error'
}

describe('config', () => {
  it('reads several sources, each with its own publication and slot', () => {
    const input = parseConfigText(
      `sources:
  - url: postgres://inlet@db1:5432/shop
    publication: shop_pub
  - name: billing
    url: postgres://inlet@db1:5432/billing
    slot: inlet_billing_v2
    tables: [public.invoices]
tables: ["public.*"]
destination: duckdb:./lake.duckdb
scd: 2
`,
      'inlet.yaml',
    )
    const config = resolveConfig(input, {}, {})
    assert.deepEqual(
      config.sources.map((s) => [s.name, s.publication, s.slot, s.tables?.map((t) => t.text)]),
      [
        ['shop', 'shop_pub', 'inlet_shop', ['public.*']],
        ['billing', 'inlet_pub', 'inlet_billing_v2', ['public.invoices']],
      ],
    )
    assert.equal(config.scd, 2)
    assert.equal(config.destination, 'duckdb:./lake.duckdb')
  })

  it('flags win over the file', () => {
    const input = parseConfigText('sources:\n  - url: postgres://a@h/db\n    publication: p1\nscd: 2\n', 'f')
    const config = resolveConfig(input, { publication: 'p2', scd: '1', tables: 'a.b,"X"."Y"' }, {})
    assert.equal(config.sources[0]?.publication, 'p2')
    assert.equal(config.scd, 1)
    assert.deepEqual(config.sources[0]?.tables?.map((t) => [t.schema, t.table]), [['a', 'b'], ['X', 'Y']])
  })

  it('refuses two sources sharing a slot on one server, or the same database twice', () => {
    assert.equal(code(() => resolveConfig({}, { source: ['postgres://a@h/db1', 'postgres://a@h/db2'], slot: 'same' }, {})), 'INLET-C007')
    assert.equal(code(() => resolveConfig({}, { source: ['postgres://a@h/db1', 'postgres://b@h/db1'] }, {})), 'INLET-C007')
    assert.equal(resolveConfig({}, { source: ['postgres://a@h1/db', 'postgres://a@h2/other'] }, {}).sources.length, 2)
  })

  it('falls back to PG* variables, and otherwise says a source is needed', () => {
    assert.equal(resolveConfig({}, {}, { PGDATABASE: 'envdb', PGUSER: 'me' }).sources[0]?.connection.database, 'envdb')
    assert.equal(code(() => resolveConfig({}, {}, {})), 'INLET-C006')
  })

  it('names a slot after the database, within slot-name rules', () => {
    assert.equal(defaultSlotName('My-Shop.DB'), 'inlet_my_shop_db')
    assert.equal(defaultSlotName('x'.repeat(80)).length, 63)
  })
})

describe('table patterns', () => {
  it('folds unquoted names, keeps quoted ones, defaults to public', () => {
    assert.deepEqual(parseTablePattern('Sales.Orders'), { text: 'Sales.Orders', schema: 'sales', table: 'orders' })
    assert.deepEqual(parseTablePattern('"Sales"."Order ""X"""'), { text: '"Sales"."Order ""X"""', schema: 'Sales', table: 'Order "X"' })
    assert.deepEqual(parseTablePattern('orders'), { text: 'orders', schema: 'public', table: 'orders' })
  })

  it('matches wildcards on either part', () => {
    assert.ok(matchesPattern(parseTablePattern('sales.*'), 'sales', 'anything'))
    assert.ok(matchesPattern(parseTablePattern('*.orders'), 'x', 'orders'))
    assert.ok(matchesPattern(parseTablePattern('s.order_*'), 's', 'order_2025'))
    assert.ok(!matchesPattern(parseTablePattern('s.order_*'), 's', 'orders'))
    assert.ok(!matchesPattern(parseTablePattern('s.a.b'.replace('.b', '')), 't', 'a'))
  })

  it('rejects malformed patterns', () => {
    for (const text of ['a.b.c', 'a.', '.b', '"unclosed', 'a b.c']) assert.equal(code(() => parseTablePattern(text)), 'INLET-C003', text)
  })
})
