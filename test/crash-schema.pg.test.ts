/**
 * Crashes at each step of schema changes and refreshes: after every DDL step, one `inlet run` dies
 * right after its first DuckDB commit (before acknowledging it), and another is killed while a
 * copy runs beside the stream (or soon after streaming began when no copy runs). A last `--once`
 * must leave every table equal to its source, with no copy left beside and no refresh pending.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { EmbeddedPostgres } from '../src/embedded/postgres-server.js'
import { ddlTrackingScript } from '../src/source/ddl-tracking.js'
import { compareTable, openDuck } from './support/compare.js'
import { createDatabase, runAndKill, runCli, sql, startServer, testMajors } from './support/servers.js'

const STEPS = [
  `alter table items add column color text not null default 'c'`,
  `alter table items rename column name to title; update items set title = 'r' || id where id <= 40`,
  `alter table items alter column qty type bigint; update items set qty = 7000000000 where id = 5`,
  `alter table items drop column note; update items set qty = 1 where id between 41 and 60`,
  // Copied again beside the stream (a type the destination cannot hold).
  `alter table items alter column price type text; update items set price = 'p' || id where id % 3 = 0`,
  `update items set price = 'again' where id % 5 = 0; delete from items where id between 61 and 70`,
  // A new primary key: copied again too.
  `alter table items drop constraint items_pkey, add primary key (id, color); update items set qty = 2 where id <= 10`,
  `create table fresh (id int primary key, v text); insert into fresh select g, 'f' || g from generate_series(1, 3000) g`,
  `update fresh set v = 'x' where id <= 100; alter table extra rename to extra2; update extra2 set v = 'renamed'`,
]

const major = testMajors().at(-1) as number

describe(`crash at each step of schema changes and refreshes (PostgreSQL ${major})`, () => {
  let server: EmbeddedPostgres
  let dir: string
  before(async () => {
    server = await startServer(major)
    dir = mkdtempSync(join(tmpdir(), 'inlet-crash-ddl-'))
    await createDatabase(
      server,
      'shop',
      `create table items (id int primary key, name text, qty int, price numeric(6,2), note text);
       insert into items select g, 'item ' || g, g % 50, (g % 1000) / 10.0, 'n' from generate_series(1, 20000) g;
       create table extra (id int primary key, v text); insert into extra select g, 'e' from generate_series(1, 20) g;
       create publication inlet_pub for all tables;`,
    )
    await sql(server, 'shop', ddlTrackingScript('install'))
  })
  after(async () => {
    await server?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  test('kills after a commit before its ack, and during copies beside the stream, then --once: equal', async () => {
    const destination = join(dir, 'lake.duckdb')
    const config = join(dir, 'inlet.yaml')
    writeFileSync(config, `sources:\n  - url: ${server.url('shop')}\ndestination: duckdb:${destination}\ntables:\n  - public.*\n`)
    const run = ['run', '--config', config, '--json']
    assert.equal((await runCli([...run, '--once'])).code, 0)
    const outcomes: string[] = []
    for (const step of STEPS) {
      await sql(server, 'shop', step)
      const committed = await runAndKill([...run, '--once'], 60_000, { INLET_TEST_FAULTS: JSON.stringify({ killAfterCommit: 1 }) })
      assert.ok(committed.signal === 'SIGKILL' || committed.code === 0, committed.stderr.slice(-2000))
      await sql(server, 'shop', `update items set qty = qty + 1 where id between 100 and 110`)
      // Killed at once when a copy starts beside the stream, else 300 ms into the stream.
      const copying = await runAndKill(run, 300, {}, /"event":"(refresh\.start|stream\.start)"/)
      assert.equal(copying.signal, 'SIGKILL', copying.stderr.slice(-2000))
      outcomes.push(/refresh\.start/.test(copying.stderr) ? 'copy' : 'stream')
    }
    assert.ok(outcomes.includes('copy'), `some kills hit a copy: ${outcomes.join(' ')}`)
    const final = await runCli([...run, '--once'])
    assert.equal(final.code, 0, final.stderr)

    const { duck, close } = await openDuck(destination)
    try {
      assert.deepEqual(await compareTable(duck, { sourceUrl: server.url('shop'), sourceTable: 'public.items', destTable: 'public.items', ignore: ['note'] }), [])
      assert.deepEqual(await compareTable(duck, { sourceUrl: server.url('shop'), sourceTable: 'public.fresh', destTable: 'public.fresh' }), [])
      assert.deepEqual(await compareTable(duck, { sourceUrl: server.url('shop'), sourceTable: 'public.extra2', destTable: 'public.extra' }), [])
      const left = (await (await duck.runAndReadAll(`SELECT (SELECT count(*) FROM _inlet.tables WHERE refresh_requested), (SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '%inlet_refresh%')`)).getRows()) as bigint[][]
      assert.deepEqual(left[0]?.map(Number), [0, 0], 'no refresh pending, no copy left beside')
    } finally {
      close()
    }
  })
})
