/**
 * Crash safety: `inlet run` is killed with SIGKILL at random moments (during the snapshot, in the
 * middle of batches, and, through a fault hook, between the DuckDB commit and the acknowledgement)
 * 24 times while a workload writes. A final `--once` must leave every table equal to its source,
 * and the SCD2 table without repeated or overlapping versions.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sampleData, SAMPLE_SCHEMA } from '../src/demo/sample-schema.js'
import { runWorkload } from '../src/demo/workload.js'
import type { EmbeddedPostgres } from '../src/embedded/postgres-server.js'
import { scratchRoot } from '../src/destination/scratch.js'
import { compareTable, openDuck, shopTables } from './support/compare.js'
import { createDatabase, runAndKill, runCli, sql, startServer, testMajors } from './support/servers.js'

const KILLS = 24

const major = testMajors().at(-1) as number

describe(`crash safety (PostgreSQL ${major})`, () => {
  let server: EmbeddedPostgres
  let dir: string
  before(async () => {
    server = await startServer(major)
    dir = mkdtempSync(join(tmpdir(), 'inlet-crash-'))
    await createDatabase(server, 'shop', `${SAMPLE_SCHEMA} alter table public.page_views replica identity full;`)
    await sql(server, 'shop', sampleData(4000))
    await sql(server, 'shop', 'create publication inlet_pub for all tables')
  })
  after(async () => {
    await server?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  test(`${KILLS} SIGKILLs under a workload, then --once: destination equals source`, async () => {
    const destination = join(dir, 'lake.duckdb')
    const config = join(dir, 'inlet.yaml')
    writeFileSync(config, `sources:\n  - url: ${server.url('shop')}\ndestination: duckdb:${destination}\ntables:\n  - public.*\n  - table: public.orders\n    scd: 2\n`)
    const stop = new AbortController()
    const workload = runWorkload(server.url('shop'), stop.signal, 300)
    const outcomes: string[] = []
    try {
      for (let i = 0; i < KILLS; i++) {
        // Every fourth run dies right after a DuckDB commit, before acknowledging it.
        const env: Record<string, string> = i % 4 === 3 ? { INLET_TEST_FAULTS: JSON.stringify({ killAfterCommit: 1 + (i % 3) }) } : {}
        // The first runs die in the snapshot, two more while creating the destination tables after
        // their slot; the others at a random moment once the snapshot or the stream began.
        // (Counted from the event, not the process start: a loaded machine starts Node.js slowly.)
        const ms = i < 4 ? i * 40 : i < 6 ? Math.floor(Math.random() * 15) : Math.floor(Math.random() * 1200)
        const result = await runAndKill(['run', '--config', config, '--json'], ms, env, i < 4 ? /"event":"snapshot\.start"/ : i < 6 ? /"event":"(slot\.created|snapshot\.slot)"/ : /"event":"(stream|snapshot)\.start"/)
        assert.ok(result.signal === 'SIGKILL', `run ${i} ended by itself (code ${result.code}): ${result.stderr.slice(-2000)}`)
        // Where it died: after streaming began (with or without a snapshot before), in the snapshot, or before either.
        outcomes.push(/stream\.start/.test(result.stderr) ? 'streaming' : /snapshot\.start/.test(result.stderr) ? 'snapshot' : `starting(${result.stderr.trim().split('\n').at(-1)?.slice(0, 300) ?? ''})`)
      }
    } finally {
      stop.abort()
      await workload
    }
    assert.ok(outcomes.includes('snapshot'), `some kills hit the snapshot: ${outcomes.join(' ')}`)
    assert.ok(outcomes.includes('streaming'), `some kills hit streaming: ${outcomes.join(' ')}`)
    // What SIGKILLs leave: scratch directories of dead runs (and one named as versions before the scratch root did).
    const root = scratchRoot(destination)
    const legacy = join(dir, '.lake.duckdb.inlet-snapshot-default-99999')
    mkdirSync(join(root, 'snapshot-default-99999'), { recursive: true })
    mkdirSync(legacy, { recursive: true })
    writeFileSync(join(root, 'snapshot-default-99999', 'chunk-1.csv'), 'x\n')
    const final = await runCli(['run', '--config', config, '--once', '--json'])
    assert.equal(final.code, 0, final.stderr)
    assert.deepEqual(readdirSync(root), [], 'the next run removes the scratch directories of dead runs, and its own when done')
    assert.ok(!existsSync(legacy))

    const { duck, close } = await openDuck(destination)
    try {
      const problems: string[] = []
      for (const table of shopTables(server.url('shop'))) problems.push(...(await compareTable(duck, table)))
      assert.deepEqual(problems, [])
    } finally {
      close()
    }
  })
})
