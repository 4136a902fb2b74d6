/**
 * Iceberg tables on object storage with the JDBC catalog, against a real S3 server (OpenStack
 * Swift's s3api, started here) and a real PostgreSQL holding the catalog: the sample shop with a
 * workload, SIGKILLs and a final --once equal to the source as ClickHouse reads the tables from
 * S3; every table of a batch swapped in one catalog transaction; another writer's commit refused
 * by the compare-and-set; missing buckets and refused credentials told clearly, secrets unprinted.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sampleData, SAMPLE_SCHEMA } from '../src/demo/sample-schema.js'
import { runWorkload } from '../src/demo/workload.js'
import type { EmbeddedPostgres } from '../src/embedded/postgres-server.js'
import { assertEqualTables, shopTables } from './support/compare.js'
import { assertIcebergMatchesMirror } from './support/iceberg-read.js'
import { assertIcebirdMatchesMirror } from './support/icebird-read.js'
import { startS3, type S3Server } from './support/s3-server.js'
import { createDatabase, runAndKill, runCli, sql, startServer, testMajors } from './support/servers.js'

const major = testMajors().at(-1) as number
// The issue's twenty, at random points of the copy, the uploads and the commits (every half second here).
const KILLS = 20

describe(`Iceberg on S3 with the JDBC catalog (PostgreSQL ${major})`, () => {
  let server: EmbeddedPostgres
  let s3: S3Server | undefined
  let dir: string
  const saved = { ...process.env }
  before(async () => {
    s3 = await startS3()
    server = await startServer(major)
    dir = mkdtempSync(join(tmpdir(), 'inlet-iceberg-s3-'))
    if (s3 !== undefined) Object.assign(process.env, s3.env)
    await createDatabase(server, 'catalog', '')
  })
  after(async () => {
    process.env = saved
    await server?.stop()
    await s3?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  const urlFor = (bucket: string, name: string) => `iceberg:s3://${bucket}/${name}?mirror=${join(dir, `${name}-mirror`)}&catalog=${server.url('catalog')}`
  const mirrorOf = (name: string) => join(dir, `${name}-mirror`, 'mirror.duckdb')

  test('the shop under a workload with SIGKILLs, then --once: the tables on S3 equal the source', async (t) => {
    if (s3 === undefined) return t.skip('python3-swift is not installed')
    await s3.createBucket('shop-lake')
    await createDatabase(server, 'shop', `${SAMPLE_SCHEMA} alter table public.page_views replica identity full;`)
    await sql(server, 'shop', sampleData(2000))
    await sql(server, 'shop', 'create publication inlet_pub for all tables')
    const url = urlFor('shop-lake', 'shop')
    const config = join(dir, 'shop.yaml')
    writeFileSync(config, `sources:\n  - url: ${server.url('shop')}\ndestination: "${url}"\ncommit_interval_seconds: 0.5\ntables:\n  - public.*\n  - table: public.orders\n    scd: 2\n`)
    const stop = new AbortController()
    const workload = runWorkload(server.url('shop'), stop.signal, 300)
    try {
      for (let i = 0; i < KILLS; i++) {
        const env: Record<string, string> = { ...(s3.env), ...(i % 3 === 2 ? { INLET_TEST_FAULTS: JSON.stringify({ killAfterCommit: 1 + (i % 2) }) } : {}) }
        const result = await runAndKill(['run', '--config', config, '--json'], i === 0 ? 50 : Math.floor(Math.random() * 2500), env, i === 0 ? /"event":"snapshot\.start"/ : /"event":"(stream|snapshot)\.start"/)
        assert.equal(result.signal, 'SIGKILL', result.stderr.slice(-2000))
      }
    } finally {
      stop.abort()
      await workload
    }
    const final = await runCli(['run', '--config', config, '--once'], s3.env)
    assert.equal(final.code, 0, final.stderr)
    // The catalog's password (in its URL here) is never printed; status reads the mirror alone (no AWS credentials needed).
    const secret = new URL(server.url('catalog')).password
    assert.doesNotMatch(final.stdout + final.stderr, new RegExp(secret))
    const status = await runCli(['status', '--config', config], { AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '' })
    assert.equal(status.code, 0, status.stderr)
    assert.match(status.stdout, /iceberg:s3:\/\/shop-lake\/shop/)
    assert.match(status.stdout, /public\.orders/)
    assert.doesNotMatch(status.stdout + status.stderr, new RegExp(secret))
    const tables = shopTables(server.url('shop'))
    await assertEqualTables(mirrorOf('shop'), tables)
    await assertIcebergMatchesMirror('s3://shop-lake/shop', mirrorOf('shop'), tables.map((t) => t.destTable))
    // Engines find every table by name in the catalog, each at a file under the bucket.
    const rows = await sql<{ table_namespace: string; table_name: string; metadata_location: string; previous_metadata_location: string | null }>(server, 'catalog', `SELECT table_namespace, table_name, metadata_location, previous_metadata_location FROM iceberg_catalog.iceberg_tables WHERE catalog_name = 'inlet' ORDER BY table_name`)
    assert.deepEqual(rows.map((r) => r.table_name), ['customers', 'events', 'order_items', 'orders', 'page_views', 'products'])
    for (const r of rows) {
      assert.equal(r.table_namespace, 'public')
      assert.match(r.metadata_location, new RegExp(`^s3://shop-lake/shop/public/${r.table_name}/metadata/\\d{5}-[0-9a-f-]{36}\\.metadata\\.json$`))
      // A second reader, icebird, found through the catalog's metadata location, agrees.
      await assertIcebirdMatchesMirror(r.metadata_location, mirrorOf('shop'), `public.${r.table_name}`)
    }
    // A lost mirror (here: run from another one) does not copy the tables over their rows and history.
    const lost = await runCli(['run', '--once', '--source', server.url('shop'), '--destination', `iceberg:s3://shop-lake/shop?mirror=${join(dir, 'lost-mirror')}&catalog=${server.url('catalog')}`, '--slot', 'inlet_lost'], s3.env)
    assert.notEqual(lost.code, 0, lost.stderr)
    assert.match(lost.stderr, /INLET-D003/)
    assert.match(lost.stderr, /never wrote it/)
    assert.match(lost.stderr, /DELETE FROM "iceberg_catalog"\.iceberg_tables WHERE catalog_name = 'inlet'/)
    // Another warehouse with the same catalog name: told at once, not retried.
    const other = await runCli(['run', '--once', '--source', server.url('shop'), '--destination', `iceberg:s3://shop-lake/other?mirror=${join(dir, 'other-mirror')}&catalog=${server.url('catalog')}`, '--slot', 'inlet_other'], s3.env)
    assert.notEqual(other.code, 0, other.stderr)
    assert.match(other.stderr, /INLET-D003.*in another warehouse \(s3:\/\/shop-lake\/shop\//s)
    assert.match(other.stderr, /catalog_name=NAME/)
    const unchanged = await sql<{ table_name: string; metadata_location: string }>(server, 'catalog', `SELECT table_name, metadata_location FROM iceberg_catalog.iceberg_tables WHERE catalog_name = 'inlet' ORDER BY table_name`)
    assert.deepEqual(unchanged.map((r) => r.metadata_location), rows.map((r) => r.metadata_location))
  })

  test('one batch over two tables is one catalog transaction; another writer is refused by the compare-and-set', async (t) => {
    if (s3 === undefined) return t.skip('python3-swift is not installed')
    await s3.createBucket('pair-lake')
    await createDatabase(server, 'pair', `create table a (id int primary key, v text); create table b (id int primary key, v text);
      insert into a select g, 'a' || g from generate_series(1, 100) g; insert into b select g, 'b' || g from generate_series(1, 100) g;
      create publication inlet_pub for table a, b`)
    const url = urlFor('pair-lake', 'pair')
    assert.equal((await runCli(['setup', '--source', server.url('pair'), '--apply'])).code, 0)
    assert.equal((await runCli(['run', '--once', '--source', server.url('pair'), '--destination', url], s3.env)).code, 0)
    await sql(server, 'pair', `begin; update a set v = 'x' where id = 1; update b set v = 'y' where id = 2; commit;`)
    const second = await runCli(['run', '--once', '--source', server.url('pair'), '--destination', url], s3.env)
    assert.equal(second.code, 0, second.stderr)
    // Rows written by one PostgreSQL transaction carry its id.
    const swapped = await sql<{ table_name: string; xmin: string }>(server, 'catalog', `SELECT table_name, xmin::text AS xmin FROM iceberg_catalog.iceberg_tables WHERE table_namespace = 'public' AND table_name IN ('a', 'b')`)
    assert.equal(swapped.length, 2)
    assert.equal(swapped[0]?.xmin, swapped[1]?.xmin, 'both tables swapped in one transaction')
    const pairTables = ['a', 'b'].map((n) => ({ sourceUrl: server.url('pair'), sourceTable: `public.${n}`, destTable: `public.${n}`, key: ['id'] }))
    await assertEqualTables(mirrorOf('pair'), pairTables)
    await assertIcebergMatchesMirror('s3://pair-lake/pair', mirrorOf('pair'), ['public.a', 'public.b'])

    // Another writer rolls table a back a version: Inlet's next commit must not build on it.
    await sql(server, 'catalog', `UPDATE iceberg_catalog.iceberg_tables SET metadata_location = previous_metadata_location, previous_metadata_location = metadata_location WHERE table_name = 'a'`)
    const [{ metadata_location: moved } = { metadata_location: '' }] = await sql<{ metadata_location: string }>(server, 'catalog', `SELECT metadata_location FROM iceberg_catalog.iceberg_tables WHERE table_name = 'a'`)
    const [{ metadata_location: bBefore } = { metadata_location: '' }] = await sql<{ metadata_location: string }>(server, 'catalog', `SELECT metadata_location FROM iceberg_catalog.iceberg_tables WHERE table_name = 'b'`)
    await sql(server, 'pair', `begin; update a set v = 'z' where id = 3; update b set v = 'z' where id = 3; commit;`)
    const conflict = await runCli(['run', '--once', '--source', server.url('pair'), '--destination', url], s3.env)
    assert.notEqual(conflict.code, 0)
    assert.match(conflict.stderr, /INLET-D002/)
    assert.match(conflict.stderr, /Another writer changed the Iceberg table public\.a/)
    assert.match(conflict.stderr, /inlet compact public\.a/)
    // Neither table moved: the batch is all or nothing.
    const after = await sql<{ table_name: string; metadata_location: string }>(server, 'catalog', `SELECT table_name, metadata_location FROM iceberg_catalog.iceberg_tables WHERE table_name IN ('a', 'b') ORDER BY table_name`)
    assert.deepEqual(after.map((r) => r.metadata_location), [moved, bBefore])
    // The fix it names: Inlet's copy written over the other writer's version, then streaming goes on.
    const compacted = await runCli(['compact', 'public.a', '--destination', url], s3.env)
    assert.equal(compacted.code, 0, compacted.stderr)
    assert.match(compacted.stdout, /public\.a: 100 rows rewritten/)
    const resumed = await runCli(['run', '--once', '--source', server.url('pair'), '--destination', url], s3.env)
    assert.equal(resumed.code, 0, resumed.stderr)
    await assertEqualTables(mirrorOf('pair'), pairTables)
    await assertIcebergMatchesMirror('s3://pair-lake/pair', mirrorOf('pair'), ['public.a', 'public.b'])
  })

  test('a missing bucket, refused credentials and a missing catalog are told clearly, secrets unprinted', async (t) => {
    if (s3 === undefined) return t.skip('python3-swift is not installed')
    await createDatabase(server, 'bad', `create table a (id int primary key); create publication inlet_pub for table a`)
    assert.equal((await runCli(['setup', '--source', server.url('bad'), '--apply'])).code, 0)
    const missing = await runCli(['run', '--once', '--source', server.url('bad'), '--destination', urlFor('no-such-bucket', 'bad')], s3.env)
    assert.notEqual(missing.code, 0)
    assert.match(missing.stderr, /INLET-D007/)
    assert.match(missing.stderr, /the bucket no-such-bucket does not exist/)
    await s3.createBucket('bad-lake')
    const refused = await runCli(['run', '--once', '--source', server.url('bad'), '--destination', urlFor('bad-lake', 'bad')], { ...s3.env, AWS_SECRET_ACCESS_KEY: 'wrong-secret-value' })
    assert.notEqual(refused.code, 0)
    assert.match(refused.stderr, /INLET-D007/)
    assert.match(refused.stderr, /credentials are missing or refused/)
    assert.doesNotMatch(refused.stderr + refused.stdout, /wrong-secret-value/)
    const noCatalog = await runCli(['run', '--once', '--source', server.url('bad'), '--destination', 'iceberg:s3://bad-lake/bad'], s3.env)
    assert.notEqual(noCatalog.code, 0)
    assert.match(noCatalog.stderr, /INLET-C004/)
    assert.match(noCatalog.stderr, /catalog=postgresql:/)
  })
})
