/**
 * The type round-trip of the destination contract, on every destination of TARGETS: each edge
 * case goes through the snapshot (COPY) and through the stream (insert, and update from NULLs),
 * and must read back as the destination's expected type and value, identical on both paths.
 * PostgreSQL 13 and 18 (INLET_TEST_PG_MAJORS).
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { resolveConfig } from '../../src/config/load.js'
import { createLogger } from '../../src/observability/log.js'
import { runPipeline } from '../../src/pipeline/run-pipeline.js'
import type { EmbeddedPostgres } from '../../src/embedded/postgres-server.js'
import { createDatabase, sql, startServer, testMajors } from '../support/servers.js'
import { TARGETS } from './targets.js'

/** [PostgreSQL type, SQL literal, DuckDB type, value as DuckDB prints it (CAST AS VARCHAR; BLOB as \x hex; lists as JSON)]. */
export const TYPE_CASES: ReadonlyArray<readonly [string, string, string, string]> = [
  ['smallint', `'-32768'`, 'SMALLINT', '-32768'],
  ['integer', `'2147483647'`, 'INTEGER', '2147483647'],
  ['bigint', `'-9223372036854775808'`, 'BIGINT', '-9223372036854775808'],
  ['oid', `'4294967295'`, 'UINTEGER', '4294967295'],
  ['real', `'NaN'`, 'FLOAT', 'nan'],
  ['real', `'-Infinity'`, 'FLOAT', '-inf'],
  ['real', `'1e-40'`, 'FLOAT', '1e-40'],
  ['real', `'3.4028235e38'`, 'FLOAT', '3.4028235e+38'],
  ['double precision', `'NaN'`, 'DOUBLE', 'nan'],
  ['double precision', `'Infinity'`, 'DOUBLE', 'inf'],
  ['double precision', `'-0'`, 'DOUBLE', '-0.0'],
  ['double precision', `'1e-40'`, 'DOUBLE', '1e-40'],
  ['double precision', `'0.1'`, 'DOUBLE', '0.1'],
  ['double precision', `'1.7976931348623157e308'`, 'DOUBLE', '1.7976931348623157e+308'],
  ['numeric(38,10)', `'1234567890123456789012345678.0123456789'`, 'DECIMAL(38,10)', '1234567890123456789012345678.0123456789'],
  ['numeric(10,2)', `'-0.50'`, 'DECIMAL(10,2)', '-0.50'],
  ['numeric', `'123456789012345678901234567890123456789012345678901234567890.5'`, 'VARCHAR', '123456789012345678901234567890123456789012345678901234567890.5'],
  ['numeric', `'NaN'`, 'VARCHAR', 'NaN'],
  ['boolean', 'true', 'BOOLEAN', 'true'],
  ['date', `'0044-03-15 BC'`, 'DATE', '0044-03-15 (BC)'],
  ['date', `'infinity'`, 'DATE', 'infinity'],
  ['date', `'-infinity'`, 'DATE', '-infinity'],
  ['timestamp', `'0044-03-15 12:00:00 BC'`, 'TIMESTAMP', '0044-03-15 (BC) 12:00:00'],
  ['timestamp', `'2024-02-29 23:59:59.999999'`, 'TIMESTAMP', '2024-02-29 23:59:59.999999'],
  ['timestamp', `'infinity'`, 'TIMESTAMP', 'infinity'],
  ['timestamptz', `'2024-01-01 10:00:00.123456+02'`, 'TIMESTAMP WITH TIME ZONE', '2024-01-01 08:00:00.123456+00'],
  ['timestamptz', `'-infinity'`, 'TIMESTAMP WITH TIME ZONE', '-infinity'],
  ['time', `'24:00:00'`, 'TIME', '24:00:00'],
  ['time with time zone', `'10:00:00.5+05:30'`, 'TIME WITH TIME ZONE', '10:00:00.5+05:30'],
  ['interval', `'1 year 2 mons -3 days 04:05:06.789'`, 'INTERVAL', '1 year 2 months -3 days 04:05:06.789'],
  ['interval', `'-1 days +02:00:00'`, 'INTERVAL', '-1 day 02:00:00'],
  ['uuid', `'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'`, 'UUID', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'],
  ['json', `'{"b": 1,  "a": [1, 2.50]}'`, 'JSON', '{"b": 1,  "a": [1, 2.50]}'],
  ['jsonb', `'{"b": 1, "a": [1, 2.50], "c": "\\u00e9"}'`, 'JSON', '{"a": [1, 2.50], "b": 1, "c": "é"}'],
  ['bytea', `'\\x00ff00'`, 'BLOB', '\\x00ff00'],
  ['text', `E'h\\u00e9llo \\U0001F389\\ttab\\nnewline\\x01\\\\'`, 'VARCHAR', 'héllo 🎉\ttab\nnewline\u0001\\'],
  ['text', `''`, 'VARCHAR', ''],
  ['text', `E'say "hi", ok\\r\\nnext'`, 'VARCHAR', 'say "hi", ok\r\nnext'],
  ['text', `'NULL'`, 'VARCHAR', 'NULL'],
  ['character(3)', `'ab'`, 'VARCHAR', 'ab '],
  ['integer[]', `'{1,NULL,3}'`, 'INTEGER[]', '[1,null,3]'],
  ['integer[][]', `'{{1,2},{3,4}}'`, 'INTEGER[][]', '[[1,2],[3,4]]'],
  ['text[]', `'{"a b","c,d","e\\"f",NULL,"NULL","","{x}"}'`, 'VARCHAR[]', '["a b","c,d","e\\"f",null,"NULL","","{x}"]'],
  ['text[]', `'{}'`, 'VARCHAR[]', '[]'],
  ['numeric(5,2)[]', `'{1.50,-2.25}'`, 'DECIMAL(5,2)[]', '[1.5,-2.25]'],
  ['timestamptz[]', `'{"2024-01-01 00:00:00+00",infinity}'`, 'TIMESTAMP WITH TIME ZONE[]', '["2024-01-01 00:00:00+00","infinity"]'],
  ['money', `'1234.56'`, 'VARCHAR', '$1,234.56'],
  ['inet', `'192.168.0.1/24'`, 'VARCHAR', '192.168.0.1/24'],
  ['cidr', `'10.0.0.0/8'`, 'VARCHAR', '10.0.0.0/8'],
  ['macaddr', `'08:00:2b:01:02:03'`, 'VARCHAR', '08:00:2b:01:02:03'],
  ['int4range', `'[1,10)'`, 'VARCHAR', '[1,10)'],
  ['point', `'(1.5,2)'`, 'VARCHAR', '(1.5,2)'],
  ['xml', `'<a>x</a>'`, 'VARCHAR', '<a>x</a>'],
  ['tsvector', `'a fat cat'`, 'VARCHAR', `'a' 'cat' 'fat'`],
  ['bit(4)', `'1010'`, 'VARCHAR', '1010'],
  ['bit varying', `'10101'`, 'VARCHAR', '10101'],
  ['pair', `'(1,"x y")'`, 'VARCHAR', '(1,"x y")'],
  ['mood', `'happy'`, 'VARCHAR', 'happy'],
  ['price', `'123.45'`, 'DECIMAL(5,2)', '123.45'],
  ['mood[]', `'{sad,happy}'`, 'VARCHAR[]', '["sad","happy"]'],
]

const TYPES_SQL = `create type pair as (a int, b text); create type mood as enum ('sad', 'happy'); create domain price as numeric(5,2) check (value > 0);`

for (const target of TARGETS) {
  for (const major of testMajors()) {
    describe(`type round-trip: ${target.name} (PostgreSQL ${major})`, () => {
      let server: EmbeddedPostgres
      let dir: string
      const columns = TYPE_CASES.map((c, i) => `v${i} ${c[0]}`)
      const literals = TYPE_CASES.map((c) => c[1])

      before(async () => {
        server = await startServer(major)
        dir = mkdtempSync(join(tmpdir(), 'inlet-types-'))
        await createDatabase(
          server,
          'types',
          `${TYPES_SQL}
           create table all_types (id int primary key, ${columns.join(', ')}, big_text text, big_bytes bytea);
           alter table all_types alter column big_text set storage external;
           insert into all_types values (1, ${literals.join(', ')}, repeat('x', 1048576), decode(repeat('00ff', 524288), 'hex'));
           insert into all_types (id) values (4);
           create publication inlet_pub for table all_types;`,
        )
      })
      after(async () => {
        await server?.stop()
        rmSync(dir, { recursive: true, force: true })
      })

      test('snapshot and stream read back every value exactly, with the expected types', async () => {
        const url = target.url(dir, 't')
        const config = resolveConfig({}, { source: [server.url('types')], destination: url }, {})
        await runPipeline({ config, once: true })
        await sql(
          server,
          'types',
          `insert into all_types values (2, ${literals.join(', ')}, repeat('x', 1048576), decode(repeat('00ff', 524288), 'hex'));
           insert into all_types (id) values (3);
           update all_types set (${TYPE_CASES.map((_, i) => `v${i}`).join(', ')}, big_text, big_bytes) = (select ${TYPE_CASES.map((_, i) => `v${i}`).join(', ')}, big_text, big_bytes from all_types where id = 1) where id = 3;
           update all_types set v0 = v0 where id = 1;`,
        )
        await runPipeline({ config, once: true, ...(process.env.INLET_TEST_LOG === '1' ? { log: createLogger({ json: true }) } : {}) })

        const names = TYPE_CASES.map((_, i) => `v${i}`)
        const { types, rows } = await target.render(url, 'public.all_types', [...names, 'big_text', 'big_bytes'])
        assert.deepEqual(rows.map((r) => Number(r.id)), [1, 2, 3, 4])
        const problems: string[] = []
        TYPE_CASES.forEach((typeCase, i) => {
          const [pgType, literal] = typeCase
          const [type, expected] = target.expected(typeCase)
          if (types.get(`v${i}`) !== type) problems.push(`${pgType}: destination type ${types.get(`v${i}`)}, expected ${type}`)
          for (const row of rows.slice(0, 3)) {
            if (row[`v${i}`] !== expected) problems.push(`${pgType} ${literal} (row ${String(row.id)}): got ${JSON.stringify(row[`v${i}`])}, expected ${JSON.stringify(expected)}`)
          }
          if (rows[3]?.[`v${i}`] !== null) problems.push(`${pgType}: NULL read back as ${JSON.stringify(rows[3]?.[`v${i}`])}`)
        })
        assert.deepEqual(problems, [])
        // The unchanged TOAST values of row 1 and the large ones written by the stream, whole.
        const bigText = 'x'.repeat(1048576)
        const bigBytes = `\\x${'00ff'.repeat(524288)}`
        for (const row of rows.slice(0, 3)) {
          assert.ok(row.big_text === bigText, `row ${String(row.id)}: big_text of ${String(row.big_text).length} characters`)
          assert.ok(row.big_bytes === bigBytes, `row ${String(row.id)}: big_bytes of ${String(row.big_bytes).length} characters`)
        }
      })
    })
  }
}
