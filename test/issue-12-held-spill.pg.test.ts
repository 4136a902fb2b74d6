/**
 * Changes held for a table copied beside the stream do not grow in memory with the copy's length:
 * past half the batch limit they go to the destination's scratch, in parts, and the batch that
 * swaps the copy in applies every part in order. The workload moves the same keys in several
 * parts (updated in one, deleted in a later one, inserted again in another), so a part applied
 * out of order or twice shows as a difference; SCD1 and SCD2, value by value.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import pg from 'pg'
import { resolveConfig } from '../src/config/load.js'
import type { EmbeddedPostgres } from '../src/embedded/postgres-server.js'
import { runPipeline } from '../src/pipeline/run-pipeline.js'
import { assertEqualTables } from './support/compare.js'
import { captureLog, createDatabase, runCli, startServer, testMajors } from './support/servers.js'

const BATCH_BYTES = 256 * 1024

for (const major of testMajors()) {
  describe(`held changes of a copy spill to scratch (PostgreSQL ${major})`, () => {
    let server: EmbeddedPostgres
    let dir: string
    before(async () => {
      server = await startServer(major)
      dir = mkdtempSync(join(tmpdir(), 'inlet-held-'))
    })
    after(async () => {
      await server?.stop()
      rmSync(dir, { recursive: true, force: true })
    })

    for (const scd of [1, 2] as const) {
      test(`SCD${scd}: a refresh under writes worth many times the hold limit ends equal to the source`, { timeout: 240_000 }, async () => {
        const db = `held${scd}`
        await createDatabase(
          server,
          db,
          `create table items (id int primary key, name text, qty int);
           insert into items select g, md5(g::text), g % 50 from generate_series(1, 3000) g;
           create table other (id int primary key, v text); insert into other values (1, 'a');
           create publication inlet_pub for table items, other;`,
        )
        const destination = join(dir, `held${scd}.duckdb`)
        const flags = ['--source', server.url(db), '--destination', `duckdb:${destination}`, '--slot', `inlet_${db}`]
        const config = resolveConfig({}, { source: [server.url(db)], destination: `duckdb:${destination}`, slot: `inlet_${db}`, scd: String(scd) }, {})
        await runPipeline({ config, once: true })
        await runCli(['refresh', ...flags, 'public.items']).then((r) => assert.equal(r.code, 0, r.stderr))

        const { log, lines } = captureLog()
        const writer = new pg.Client(server.url(db))
        await writer.connect()
        let wrote = 0
        try {
          await runPipeline({
            config,
            once: true,
            log,
            batch: { maxBytes: BATCH_BYTES },
            onRefreshLoaded: async () => {
              // Rounds of random text over the same keys while the copy waits to be swapped in:
              // each round is a few hundred kB of changes, past the hold limit (128 kB).
              for (let round = 0; round < 6; round++) {
                await writer.query(`update items set name = repeat(md5(random()::text), 8), qty = qty + 1 where id % 3 = ${round % 3}`)
                await writer.query(`delete from items where id % 10 = ${round}`)
                await writer.query(`insert into items select g, 'back ' || md5(random()::text), ${round} from generate_series(1, 3000) g where g % 10 = ${round} on conflict (id) do update set qty = excluded.qty`)
                await writer.query(`update other set v = 'round ${round}'`)
                wrote++
              }
              // The stream reads them (staging parts) before the copy is swapped in.
              for (let i = 0; i < 300 && lines.filter((l) => l.includes('"refresh.hold"')).length < 8; i++) await new Promise((r) => setTimeout(r, 100))
            },
          })
        } finally {
          await writer.end()
        }
        assert.equal(wrote, 6, 'the workload ran while the copy waited')
        const parts = lines.filter((l) => l.includes('"refresh.hold"'))
        assert.ok(parts.length >= 8, `held changes were staged in parts (${parts.length}):\n${lines.join('')}`)
        for (const part of parts) {
          const bytes = Number((JSON.parse(part) as { bytes: number }).bytes)
          assert.ok(bytes <= BATCH_BYTES, `a part holds at most about half the batch limit past one change (${bytes})`)
        }
        assert.ok(lines.some((l) => l.includes('"refresh.done"')), 'the copy was swapped in')
        await runPipeline({ config, once: true })
        await assertEqualTables(
          destination,
          ['items', 'other'].map((t) => ({ sourceUrl: server.url(db), sourceTable: `public.${t}`, destTable: `public.${t}`, scd, key: ['id'] })),
        )
      })
    }
  })
}
