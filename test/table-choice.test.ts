/** inlet init's picks from its table list: numbers, ranges, patterns, all; SCD2 within the chosen; excluded columns. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { pickExclusions, pickTables } from '../src/cli/init/table-choice.js'
import { sourceName } from '../src/cli/init/database-session.js'
import { displayName } from '../src/postgres/sql-text.js'
import type { TableFacts } from '../src/source/preflight/facts.js'
import type { SurveyedTable } from '../src/source/setup/table-survey.js'

let oid = 16_000
function table(schema: string, name: string, columns: string[], primaryKey: string[] = [], kind: 'r' | 'p' = 'r'): SurveyedTable {
  const facts: TableFacts = { oid: oid++, schema, name, kind, root: undefined, replicaIdentity: 'd', primaryKey, identityIndex: undefined, toastableColumns: [], rowSecurity: false, publishableColumns: columns.length, owner: 'app', canSelect: null, schemaUsage: null }
  return { facts, display: displayName(schema, name), bytes: 8192, estimatedRows: 10, needs: primaryKey.length === 0 ? 'replica identity full' : undefined, identityNote: '', columns }
}

const orders = table('public', 'orders', ['id', 'customer', 'note'], ['id'])
const events = table('public', 'events', ['at', 'kind'], [], 'p')
const mixed = table('public', 'Mixed Case', ['id', 'Email', 'a.b', 'say "hi"'], ['id'])
const invoices = table('sales', 'invoices', ['no', 'amount'], ['no'])
const list = [orders, events, mixed, invoices]
const names = (p: { tables: readonly SurveyedTable[] }) => p.tables.map((t) => t.display)

describe('inlet init table choice', () => {
  it('numbers and ranges in list order, written as names', () => {
    const picked = pickTables('4, 1-2', list)
    assert.deepEqual(names(picked), ['public.orders', 'public.events', 'sales.invoices'])
    assert.deepEqual(picked.entries, ['sales.invoices', 'public.orders', 'public.events'])
    assert.throws(() => pickTables('0', list), /the list has tables 1 to 4/)
    assert.throws(() => pickTables('3-5', list), /the list has tables 1 to 4/)
    assert.throws(() => pickTables('2-1', list), /the list has tables 1 to 4/)
  })

  it('patterns and all, kept as patterns (new tables join), duplicates once', () => {
    assert.deepEqual(pickTables('public.*, public.orders, public.*', list).entries, ['public.*', 'public.orders'])
    assert.deepEqual(names(pickTables('sales.*', list)), ['sales.invoices'])
    const all = pickTables('all', list)
    assert.equal(all.tables.length, 4)
    assert.deepEqual(all.entries, ['public.*', 'sales.*'])
    assert.deepEqual(names(pickTables('public."Mixed Case"', list)), ['public."Mixed Case"'])
    assert.throws(() => pickTables('public.nope', list), /public\.nope matches no table/)
  })

  it('a pattern that would also take an extension\'s table is written as the tables it means', () => {
    const hidden = [{ schema: 'public', name: 'spatial_ref_sys' }]
    assert.deepEqual(pickTables('all', list, list, hidden).entries, ['public.orders', 'public.events', 'public."Mixed Case"', 'sales.*'])
    assert.deepEqual(pickTables('public.*', list, list, hidden).entries, ['public.orders', 'public.events', 'public."Mixed Case"'])
    assert.deepEqual(pickTables('sales.*', list, list, hidden).entries, ['sales.*'])
  })

  it('SCD2 picks only among the chosen tables', () => {
    const chosen = pickTables('1,4', list).tables
    assert.deepEqual(names(pickTables('orders', list, chosen)), ['public.orders'])
    assert.throws(() => pickTables('2', list, chosen), /public\.events is not among the tables chosen/)
  })

  it('excluded columns: quoted, folded or as spelt; never a key, never every column, never a pattern', () => {
    const chosen = [orders, mixed, invoices]
    const excluded = pickExclusions('public.orders.note, orders.customer, public."Mixed Case".Email, public."Mixed Case"."a.b", public."Mixed Case"."say ""hi"""', chosen)
    assert.deepEqual([...excluded].map(([t, c]) => [t.display, c]), [['public.orders', ['note', 'customer']], ['public."Mixed Case"', ['Email', 'a.b', 'say "hi"']]])
    assert.deepEqual([...pickExclusions('SALES.INVOICES.AMOUNT', chosen)].map(([t, c]) => [t.display, c]), [['sales.invoices', ['amount']]])
    assert.throws(() => pickExclusions('public.orders.id', chosen), /id is part of public\.orders's primary key/)
    assert.throws(() => pickExclusions('public.orders.nope', chosen), /has no column nope \(it has id, customer, note\)/)
    assert.throws(() => pickExclusions('public.*.note', chosen), /name one table, not a pattern/)
    assert.throws(() => pickExclusions('public.events.kind', chosen), /not among the tables chosen/)
    assert.throws(() => pickExclusions('note', chosen), /write schema\.table\.column/)
    assert.throws(() => pickExclusions('sales.invoices.no, sales.invoices.amount', [table('sales', 'invoices', ['no', 'amount'])]), /leave sales\.invoices without columns/)
  })

  it('a source name from any database name', () => {
    assert.deepEqual(['shop', 'shop-eu', '2024db', 'Ünicode db'].map(sourceName), ['shop', 'shop_eu', 'db_2024db', '_nicode_db'])
  })
})
