/**
 * The shapes every destination must carry, on every destination of TARGETS, SCD1 and SCD2, each
 * compared with the source value by value after every run: the snapshot load; inserts, updates
 * (in place and moving the key) and deletes under REPLICA IDENTITY DEFAULT and FULL; unchanged
 * TOAST values; keyless duplicates; TRUNCATE alone, inside a transaction between rows, and of
 * several tables; columns added, dropped, renamed and widened (through the DDL tracking script,
 * which also shows changes no row follows); a table copied beside the live one while the source
 * changes, then swapped in.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { resolveConfig } from '../../src/config/load.js'
import type { EmbeddedPostgres } from '../../src/embedded/postgres-server.js'
import { runPipeline } from '../../src/pipeline/run-pipeline.js'
import { openDestination } from '../../src/destination/registry.js'
import { ddlTrackingScript } from '../../src/source/ddl-tracking.js'
import type { CompareOptions } from '../support/compare.js'
import { createDatabase, runCli, sql, startServer, testMajors } from '../support/servers.js'
import { TARGETS } from './targets.js'

/** About 13 kB of text that does not compress much: stored out of line (TOAST) under storage external. */
const toasted = (seed: string) => `(select string_agg(md5(${seed}::text || '/' || i), '') from generate_series(1, 400) i)`

const ROWS_SCHEMA = `
  create table keyed (id int primary key, v text, n int, big text);
  alter table keyed alter column big set storage external;
  create table full_keyed (a int, b text, v text, big text, primary key (b, a));
  alter table full_keyed replica identity full; alter table full_keyed alter column big set storage external;
  create table dup (v text, n int); alter table dup replica identity full;
  create table trunc (id int primary key, v text);
  insert into keyed select g, md5(g::text), g, case when g % 3 = 0 then ${toasted('g')} end from generate_series(1, 200) g;
  insert into full_keyed select g, 'b' || (g % 4), md5(g::text), case when g % 2 = 0 then ${toasted('(-g)')} end from generate_series(1, 100) g;
  insert into dup select 'same', 1 from generate_series(1, 3); insert into dup values (null, null), (null, null);
  insert into trunc select g, 'before' from generate_series(1, 20) g;
  create publication inlet_pub for table keyed, full_keyed, dup, trunc`

const ROWS_WORKLOAD = [
  // Unchanged TOAST values (big not touched) under DEFAULT and FULL, duplicates, deletes, a lone TRUNCATE.
  `update keyed set n = n + 1 where id % 2 = 0; update full_keyed set v = 'u' where a % 3 = 0;
   insert into dup values ('same', 1), ('same', 1), (null, null); delete from keyed where id % 11 = 0;
   delete from full_keyed where a % 10 = 0; truncate trunc; insert into trunc values (1, 'after')`,
  // One transaction: TOAST values changed and carried by a key move, composite key moved, a duplicate
  // deleted, a TRUNCATE between rows.
  `begin; update keyed set big = big || 'x' where id = 3; update keyed set id = id + 1000 where id in (6, 9);
   update full_keyed set a = a + 1000, v = 'moved' where a in (2, 4); update full_keyed set b = 'b9' where a = 5;
   delete from dup where ctid = (select ctid from dup where v = 'same' limit 1); update dup set n = 2 where v is null;
   insert into trunc values (2, 'x'); truncate trunc; insert into trunc values (3, 'y'); update trunc set v = 'z' where id = 3;
   commit`,
  // Several tables truncated at once, refilled in the same transaction, with a TOAST value.
  `begin; truncate keyed, dup; insert into keyed values (1, 'again', 1, ${toasted('7')}), (2, 'plain', 2, null);
   insert into dup values ('same', 1), ('same', 1); update full_keyed set big = null where a = 8; commit`,
  `update keyed set v = 'last' where id = 1; delete from full_keyed where b = 'b1'; insert into dup values ('pair', 5)`,
  // Keyless, across a schema change inside one transaction: the delete removes the version the
  // transaction itself opened (before the change) and closes the older one.
  `begin; insert into dup values ('pair', 5); alter table dup add column extra int; delete from dup where v = 'pair';
   insert into dup values ('pair', 6, 1); commit`,
  // Rows a transaction inserts and then truncates away leave no version (keyed and keyless).
  `begin; insert into dup values ('gone', 1, 1); insert into trunc values (90, 'gone'); truncate dup, trunc; insert into dup values ('kept', 1, 1); commit`,
]

const ITEMS_SCHEMA = `
  create table items (id int primary key, name text, qty int, price numeric(6,2), note varchar(10));
  insert into items select g, 'item ' || g, g % 50, (g % 1000) / 10.0, left(md5(g::text), g % 10) from generate_series(1, 200) g;
  create publication inlet_pub for table items`

for (const target of TARGETS) {
  for (const major of testMajors()) {
    describe(`destination shapes: ${target.name} (PostgreSQL ${major})`, () => {
      let server: EmbeddedPostgres
      let dir: string
      let n = 0
      before(async () => {
        server = await startServer(major)
        dir = mkdtempSync(join(tmpdir(), 'inlet-shapes-'))
      })
      after(async () => {
        await server?.stop()
        rmSync(dir, { recursive: true, force: true })
      })
      const setup = async (scd: 1 | 2, schema: string, tableKeys: Record<string, readonly string[] | undefined>) => {
        const db = `s${++n}`
        await createDatabase(server, db, schema)
        const url = target.url(dir, db)
        const slot = `inlet_${db}`
        const config = resolveConfig({ scd }, { source: [server.url(db)], destination: url, slot }, {})
        const tables = (ignore: readonly string[] = []): CompareOptions[] =>
          Object.entries(tableKeys).map(([t, key]) => ({ sourceUrl: server.url(db), sourceTable: `public.${t}`, destTable: `public.${t}`, scd, ignore, ...(key === undefined ? {} : { key }) }))
        return { db, url, slot, config, tables, run: () => runPipeline({ config, once: true }) }
      }

      for (const scd of [1, 2] as const) {
        test(`SCD${scd}: snapshot load, then changes under DEFAULT and FULL, unchanged TOAST, keyless duplicates, TRUNCATE`, async () => {
          const { db, url, tables, run } = await setup(scd, ROWS_SCHEMA, { keyed: ['id'], full_keyed: ['b', 'a'], dup: undefined, trunc: ['id'] })
          await run()
          await target.assertEqual(url, tables())
          for (const [i, step] of ROWS_WORKLOAD.entries()) {
            await sql(server, db, step)
            await run()
            await target.assertEqual(url, tables()).catch((error: Error) => assert.fail(`after step ${i + 1}: ${error.message}`))
          }
        })

        test(`SCD${scd}: columns added, dropped, renamed and widened, with and without rows following`, async () => {
          const { db, url, tables, run } = await setup(scd, ITEMS_SCHEMA, { items: ['id'] })
          await sql(server, db, ddlTrackingScript('install'))
          await sql(server, db, 'alter publication inlet_pub add table inlet.inlet_ddl_audit')
          await run()
          // No row follows these: only the audit rows tell.
          await sql(server, db, `alter table items add column color text not null default 'none'; alter table items alter column note type varchar(40)`)
          await run()
          await target.assertEqual(url, tables())
          await sql(server, db, `alter table items rename column name to title; update items set title = title || '!' where id <= 10`)
          await sql(server, db, `alter table items alter column qty type bigint; update items set qty = 6000000000 where id = 11`)
          await sql(server, db, `update items set note = repeat('n', 40) where id = 12; alter table items drop column price; insert into items (id, title, qty, note, color) values (1001, 'new', 1, 'n', 'red')`)
          await sql(server, db, `begin; update items set color = 'blue' where id = 13; alter table items rename column color to colour; update items set colour = 'green' where id = 14; alter table items add column rank int; update items set rank = 1 where id = 15; delete from items where id = 16; commit`)
          await run()
          await target.assertEqual(url, tables(['price']))
          // A dropped column's name taken again by a new column.
          await sql(server, db, `alter table items drop column note; alter table items add column note text; update items set note = 'fresh' where id = 17`)
          await run()
          await target.assertEqual(url, tables(['price']))
          // Each change is in the table's history (the dashboard's table page), in order.
          const destination = await openDestination(url, { readOnly: true })
          try {
            const history = (await destination.readSchemaChanges(db, 'public', 'items')).map((c) => c.change).join('\n')
            const order = [/added color/, /renamed name to title/, /qty \w+ -> BIGINT/, /dropped price/, /renamed color to colour/, /added rank/, /dropped note/, /added note/].map((p) => history.search(p))
            assert.ok(order.every((at) => at >= 0), history)
            assert.deepEqual(order, [...order].sort((a, b) => a - b), history)
          } finally {
            await destination.close()
          }
        })

        test(`SCD${scd}: a table copied beside the live one while the source changes, then swapped in`, async () => {
          const { db, url, slot, config, tables, run } = await setup(scd, ROWS_SCHEMA, { keyed: ['id'], full_keyed: ['b', 'a'], dup: undefined, trunc: ['id'] })
          await run()
          await sql(server, db, ROWS_WORKLOAD[0] as string)
          const marked = await runCli(['refresh', '--source', server.url(db), '--destination', url, '--slot', slot, 'public.keyed', 'public.dup'])
          assert.equal(marked.code, 0, marked.stderr)
          let loaded = 0
          await runPipeline({
            config,
            once: true,
            // While each copy waits to be swapped in, the source moves on: these changes are held for it.
            onRefreshLoaded: async () => {
              await sql(server, db, ROWS_WORKLOAD[1 + (loaded++ % 2)] as string)
            },
          })
          assert.equal(loaded, 2, 'both tables were copied beside')
          await run()
          await target.assertEqual(url, tables())
        })
      }
    })
  }
}
