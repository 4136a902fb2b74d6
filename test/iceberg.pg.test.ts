/**
 * What the Iceberg destination adds beyond the conformance suite (which runs every shape on it):
 * commits are merge-on-read (a batch adds an equality delete file and a small data file, the
 * earlier files stay), each snapshot records the source and LSN, a crash between the mirror's
 * commit and the Iceberg publish is finished by the next run, SIGKILLs under a workload leave the
 * tables (as ClickHouse reads them) equal to the source, and tables are rewritten (compacted) and
 * their old snapshots expired with the files only they read.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sampleData, SAMPLE_SCHEMA } from '../src/demo/sample-schema.js'
import { runWorkload } from '../src/demo/workload.js'
import type { EmbeddedPostgres } from '../src/embedded/postgres-server.js'
import { readManifestList } from '../src/destination/iceberg/manifests.js'
import { readCurrent } from '../src/destination/iceberg/path-catalog.js'
import { currentSnapshot } from '../src/destination/iceberg/table-metadata.js'
import { openDuck, shopTables } from './support/compare.js'
import { aggregateWithClickHouse } from './support/iceberg-read.js'
import { assertIcebirdMatchesMirror } from './support/icebird-read.js'
import { createDatabase, runAndKill, runCli, sql, startServer, testMajors } from './support/servers.js'
import { TARGETS } from './conformance/targets.js'

const major = testMajors().at(-1) as number
const ICEBERG = TARGETS.find((t) => t.name === 'iceberg')
if (ICEBERG === undefined) throw new Error('no iceberg conformance target')

describe(`Iceberg destination (PostgreSQL ${major})`, () => {
  let server: EmbeddedPostgres
  let dir: string
  before(async () => {
    server = await startServer(major)
    dir = mkdtempSync(join(tmpdir(), 'inlet-iceberg-'))
  })
  after(async () => {
    await server?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  test('a batch is one merge-on-read snapshot with inlet.source and inlet.lsn; a crash before the publish is finished by the next run', async () => {
    await createDatabase(server, 'mor', `create table t (id bigint primary key, v text, n int);
      insert into t select g, md5(g::text), g from generate_series(1, 5000) g; create publication inlet_pub for table t`)
    const url = ICEBERG.url(dir, 'mor')
    const warehouse = url.slice('iceberg:file://'.length)
    const location = join(warehouse, 'public', 't')
    assert.equal((await runCli(['setup', '--source', server.url('mor'), '--apply'])).code, 0)
    const first = await runCli(['run', '--once', '--source', server.url('mor'), '--destination', url])
    assert.equal(first.code, 0, first.stderr)
    const loaded = readCurrent(location)
    assert.ok(loaded !== undefined)
    const firstList = await readManifestList(readFileSync(currentSnapshot(loaded.meta)?.['manifest-list'] as string))

    await sql(server, 'mor', `update t set v = 'changed' where id <= 10; delete from t where id between 11 and 15; insert into t values (9000, 'new', 1)`)
    const second = await runCli(['run', '--once', '--source', server.url('mor'), '--destination', url])
    assert.equal(second.code, 0, second.stderr)
    const now = readCurrent(location)
    assert.ok(now !== undefined && now.version > loaded.version)
    const snapshot = currentSnapshot(now.meta)
    assert.equal(snapshot?.summary['inlet.source'], 'mor')
    assert.equal(snapshot?.summary['added-delete-files'], '1')
    // The ten changed rows and the new one; the five deleted are in the delete file alone.
    assert.equal(snapshot?.summary['added-records'], '11')
    assert.equal(snapshot?.summary['added-position-deletes'], '15')
    const list = await readManifestList(readFileSync(snapshot?.['manifest-list'] as string))
    for (const m of firstList) assert.ok(list.some((x) => x.path === m.path), 'the earlier manifests are carried, not rewritten')
    assert.ok(list.some((m) => m.content === 1))
    // The snapshot's LSN is the checkpoint the mirror holds (the slot was confirmed up to it).
    const { duck, close } = await openDuck(join(warehouse, '_inlet', 'mirror.duckdb'))
    const checkpoint = ((await (await duck.runAndReadAll(`SELECT CAST(checkpoint_lsn AS VARCHAR) AS l FROM _inlet.sources`)).getRowObjectsJS()) as Array<{ l: string }>)[0]?.l
    close()
    assert.equal(snapshot?.summary['inlet.lsn'], checkpoint)
    const table = { sourceUrl: server.url('mor'), sourceTable: 'public.t', destTable: 'public.t', key: ['id'] }
    await ICEBERG.assertEqual(url, [table])
    // Time travel: each snapshot shows its commit's state.
    const firstId = currentSnapshot(loaded.meta)?.['snapshot-id'] as number
    assert.equal(await aggregateWithClickHouse(location, `count(), countIf(v = 'changed'), countIf(id = 9000)`, firstId), '5000\t0\t0')
    assert.equal(await aggregateWithClickHouse(location, `count(), countIf(v = 'changed'), countIf(id = 9000)`, snapshot?.['snapshot-id']), '4996\t10\t1')

    // A crash after the mirror committed the next batch and before its version was published:
    // the version is back aside and recorded as pending, as the commit leaves it.
    await sql(server, 'mor', `update t set n = -n where id between 100 and 120`)
    assert.equal((await runCli(['run', '--once', '--source', server.url('mor'), '--destination', url])).code, 0)
    const published = readCurrent(location)
    assert.ok(published !== undefined)
    const aside = join(location, 'metadata', `.v${published.version}-crash.metadata.json.tmp`)
    renameSync(published.file, aside)
    writeFileSync(join(location, 'metadata', 'version-hint.text'), String(published.version - 1))
    const mirror = await openDuck(join(warehouse, '_inlet', 'mirror.duckdb'))
    try {
      await mirror.duck.run(`INSERT INTO _inlet.iceberg_pending_versions VALUES ('public', 't', '${location}', ${published.version}, '${aside}', '', '{"files":[],"prefixes":[]}')`)
    } finally {
      mirror.close()
    }
    await assert.rejects(ICEBERG.assertEqual(url, [table]), /differ/)
    const next = await runCli(['run', '--once', '--source', server.url('mor'), '--destination', url])
    assert.equal(next.code, 0, next.stderr)
    assert.equal(readCurrent(location)?.version, published.version)
    assert.equal(readFileSync(join(location, 'metadata', 'version-hint.text'), 'utf8'), String(published.version))
    await ICEBERG.assertEqual(url, [table])

    // The same crash, and meanwhile another writer (a Hadoop catalog) commits its own version of
    // that number: the name alone does not tell them apart, the snapshot does. The next batch is
    // refused (INLET-D002), and inlet compact writes Inlet's copy over it.
    await sql(server, 'mor', `update t set n = 0 where id between 200 and 210`)
    assert.equal((await runCli(['run', '--once', '--source', server.url('mor'), '--destination', url])).code, 0)
    const mine = readCurrent(location)
    assert.ok(mine !== undefined)
    const mineAside = join(location, 'metadata', `.v${mine.version}-crash2.metadata.json.tmp`)
    renameSync(mine.file, mineAside)
    const base = JSON.parse(readFileSync(join(location, 'metadata', `v${mine.version - 1}.metadata.json`), 'utf8')) as typeof mine.meta
    const theirs = { ...(currentSnapshot(base) as NonNullable<ReturnType<typeof currentSnapshot>>), 'snapshot-id': 4242, 'sequence-number': base['last-sequence-number'] + 1, summary: { operation: 'append' } }
    writeFileSync(mine.file, JSON.stringify({ ...base, 'last-sequence-number': theirs['sequence-number'], 'current-snapshot-id': 4242, snapshots: [...base.snapshots, theirs] }))
    writeFileSync(join(location, 'metadata', 'version-hint.text'), String(mine.version))
    const pendingMirror = await openDuck(join(warehouse, '_inlet', 'mirror.duckdb'))
    try {
      await pendingMirror.duck.run(`INSERT INTO _inlet.iceberg_pending_versions VALUES ('public', 't', '${location}', ${mine.version}, '${mineAside}', '', '{"files":[],"prefixes":[]}')`)
    } finally {
      pendingMirror.close()
    }
    await sql(server, 'mor', `update t set n = 1 where id between 300 and 310`)
    const refused = await runCli(['run', '--once', '--source', server.url('mor'), '--destination', url])
    assert.notEqual(refused.code, 0)
    assert.match(refused.stderr, /INLET-D002/)
    assert.equal((JSON.parse(readFileSync(mine.file, 'utf8')) as typeof mine.meta)['current-snapshot-id'], 4242, "the other writer's version stays until compact")
    const compacted = await runCli(['compact', 'public.t', '--destination', url])
    assert.equal(compacted.code, 0, compacted.stderr)
    assert.equal((await runCli(['run', '--once', '--source', server.url('mor'), '--destination', url])).code, 0)
    await ICEBERG.assertEqual(url, [table])
  })

  test('a snapshot of rows whose default row group would not fit the default memory_limit', async () => {
    // 300,000 rows of ~330 bytes: DuckDB's default row group (122,880 rows, ~40 MB) is more than
    // the pool's share of the default memory_limit, and a whole write holds it in one transaction.
    await createDatabase(server, 'wide', `create table w (id bigint primary key, n int, note text, at timestamptz);
      insert into w select g, g % 1000, md5(g::text) || md5((g + 1)::text) || md5((g + 2)::text) || md5((g + 3)::text) || md5((g + 4)::text) || md5((g + 5)::text) || md5((g + 6)::text) || md5((g + 7)::text) || md5((g + 8)::text), now() from generate_series(1, 300000) g;
      create publication inlet_pub for table w`)
    const url = ICEBERG.url(dir, 'wide')
    assert.equal((await runCli(['setup', '--source', server.url('wide'), '--apply'])).code, 0)
    const run = await runCli(['run', '--once', '--source', server.url('wide'), '--destination', url])
    assert.equal(run.code, 0, run.stderr)
    const location = join(url.slice('iceberg:file://'.length), 'public', 'w')
    assert.equal(await aggregateWithClickHouse(location, 'count(), sum(n)'), `300000\t${(await sql<{ s: string }>(server, 'wide', 'select sum(n)::text as s from w'))[0]?.s}`)
    // A warehouse whose mirror is gone is not copied over: it says what happened.
    const inlet = join(url.slice('iceberg:file://'.length), '_inlet')
    renameSync(inlet, `${inlet}-away`)
    const lost = await runCli(['run', '--once', '--source', server.url('wide'), '--destination', url])
    renameSync(`${inlet}-away`, inlet)
    assert.notEqual(lost.code, 0)
    assert.match(lost.stderr, /INLET-D001.*holds Iceberg tables but not the mirror that wrote them/s)
  })

  test('SIGKILLs under a workload, then --once: the Iceberg tables equal the source', async () => {
    await createDatabase(server, 'shop', `${SAMPLE_SCHEMA} alter table public.page_views replica identity full;`)
    await sql(server, 'shop', sampleData(2000))
    await sql(server, 'shop', 'create publication inlet_pub for all tables')
    const url = ICEBERG.url(dir, 'shop')
    const config = join(dir, 'shop.yaml')
    writeFileSync(config, `sources:\n  - url: ${server.url('shop')}\ndestination: ${url}\ntables:\n  - public.*\n  - table: public.orders\n    scd: 2\n`)
    const stop = new AbortController()
    const workload = runWorkload(server.url('shop'), stop.signal, 300)
    try {
      // Three here: twenty more, on S3, in iceberg-s3.pg.test.ts.
      for (let i = 0; i < 3; i++) {
        const env: Record<string, string> = i % 3 === 2 ? { INLET_TEST_FAULTS: JSON.stringify({ killAfterCommit: 1 + (i % 2) }) } : {}
        const result = await runAndKill(['run', '--config', config, '--json'], i === 0 ? 50 : Math.floor(Math.random() * 1500), env, i === 0 ? /"event":"snapshot\.start"/ : /"event":"(stream|snapshot)\.start"/)
        assert.equal(result.signal, 'SIGKILL', result.stderr.slice(-2000))
      }
    } finally {
      stop.abort()
      await workload
    }
    const final = await runCli(['run', '--config', config, '--once'])
    assert.equal(final.code, 0, final.stderr)
    const tables = shopTables(server.url('shop'))
    await ICEBERG.assertEqual(url, tables)
    // A second reader, icebird (JavaScript), agrees with the mirror ClickHouse was compared with.
    const warehouse = url.slice('iceberg:file://'.length)
    for (const t of tables) {
      const current = readCurrent(join(warehouse, ...t.destTable.split('.')))
      assert.ok(current !== undefined)
      await assertIcebirdMatchesMirror(current.file, join(warehouse, '_inlet', 'mirror.duckdb'), t.destTable)
    }
  })

  test('a column widened to text inside a batch (NaN in numeric(p,s)) rewrites the table, keyed and keyless', async () => {
    await createDatabase(server, 'widen', `create table w (id int primary key, amount numeric(10,2), note text);
      create table wk (amount numeric(10,2), note text); alter table wk replica identity full;
      insert into w select g, g * 1.25, 'n' || g from generate_series(1, 300) g; insert into wk select g * 1.25, 'n' || g from generate_series(1, 50) g;
      create publication inlet_pub for table w, wk`)
    const url = ICEBERG.url(dir, 'widen')
    assert.equal((await runCli(['setup', '--source', server.url('widen'), '--apply'])).code, 0)
    assert.equal((await runCli(['run', '--once', '--source', server.url('widen'), '--destination', url])).code, 0)
    await sql(server, 'widen', `update w set amount = 'NaN' where id = 7; insert into w values (900, 'NaN', 'x'); update w set note = 'changed' where id < 5;
      insert into wk values ('NaN', 'nan'); delete from wk where note = 'n3'`)
    const run = await runCli(['run', '--once', '--source', server.url('widen'), '--destination', url])
    assert.equal(run.code, 0, run.stderr)
    assert.match(run.stderr, /schema\.widen/)
    await ICEBERG.assertEqual(url, [
      { sourceUrl: server.url('widen'), sourceTable: 'public.w', destTable: 'public.w', key: ['id'] },
      { sourceUrl: server.url('widen'), sourceTable: 'public.wk', destTable: 'public.wk' },
    ])
  })

  test('a table is rewritten whole by itself once a fifth of it changed; inlet compact; expired snapshots take their files', async () => {
    await createDatabase(server, 'upkeep', `create table u (id int primary key, v text);
      insert into u select g, md5(g::text) from generate_series(1, 2000) g; create publication inlet_pub for table u`)
    const url = `${ICEBERG.url(dir, 'upkeep')}?retention_minutes=0`
    const location = join(url.slice('iceberg:file://'.length, url.indexOf('?')), 'public', 'u')
    assert.equal((await runCli(['setup', '--source', server.url('upkeep'), '--apply'])).code, 0)
    const run = async () => {
      const r = await runCli(['run', '--once', '--source', server.url('upkeep'), '--destination', url])
      assert.equal(r.code, 0, r.stderr)
      return currentSnapshot(readCurrent(location)?.meta as never)
    }
    await run()
    // Small batches are merge-on-read; once a fifth of the table changed, the next is a whole write.
    const kinds: string[] = []
    for (let i = 0; i < 4; i++) {
      await sql(server, 'upkeep', `update u set v = 'b${i}' where id between ${i * 150 + 1} and ${i * 150 + 150}`)
      kinds.push((await run())?.summary['inlet.whole'] === 'true' ? 'whole' : 'delta')
    }
    // Each batch touches 300 (150 deleted, 150 added): the third finds 600 of 2000 touched, over a fifth.
    assert.deepEqual(kinds, ['delta', 'delta', 'whole', 'delta'])
    await sql(server, 'upkeep', `update u set v = 'c' where id <= 10`)
    assert.equal((await run())?.summary['added-delete-files'], '1')
    // Retention 0: every earlier snapshot expired, and with them the files no current one reads.
    const meta = readCurrent(location)?.meta
    assert.equal(meta?.snapshots.length, 1)
    const compacted = await runCli(['compact', '--destination', url])
    assert.equal(compacted.code, 0, compacted.stderr)
    assert.match(compacted.stdout, /public\.u: 2000 rows rewritten in one snapshot \(2 delete file\(s\) no longer applied\)/)
    await run()
    const dataDirs = readdirSync(join(location, 'data'))
    assert.equal(dataDirs.length, 1, `only the compaction's files remain: ${dataDirs.join(', ')}`)
    const avro = readdirSync(join(location, 'metadata')).filter((n) => n.endsWith('.avro'))
    assert.equal(avro.length, 2, `the current manifest list and its one manifest: ${avro.join(', ')}`)
    await ICEBERG.assertEqual(url, [{ sourceUrl: server.url('upkeep'), sourceTable: 'public.u', destTable: 'public.u', key: ['id'] }])
    const duck = await runCli(['compact', '--destination', `duckdb:${join(dir, 'x.duckdb')}`])
    assert.equal(duck.code, 2)
    assert.match(duck.stderr, /not an Iceberg destination/)
  })
})
