/**
 * The differential fuzzer in the suite: every regression it found (test/fuzz/regressions/, a
 * shrunk round each) replayed, and a short slice of seeded rounds on PostgreSQL 13 and 18. The
 * long runs are `npm run fuzz` (500 rounds and more).
 */
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import type { EmbeddedPostgres } from '../src/embedded/postgres-server.js'
import { generateRound, type Round } from './fuzz/generate.js'
import { FUZZ_SETTINGS, roundPasses } from './fuzz/fuzz.js'
import { PROJECT_ROOT, startServer, testMajors } from './support/servers.js'

/** Seeds of the slice: fixed, so that a failure here reproduces with npm run fuzz -- --seed N --rounds 1. */
const SLICE = Number(process.env.INLET_TEST_FUZZ_ROUNDS ?? 6)
const FIRST_SEED = 1000

const regressionDir = join(PROJECT_ROOT, 'test', 'fuzz', 'regressions')
const regressions = existsSync(regressionDir) ? readdirSync(regressionDir).filter((f) => f.endsWith('.json')).sort().map((f) => ({ file: f, ...(JSON.parse(readFileSync(join(regressionDir, f), 'utf8')) as { major: number; round: Round }) })) : []

for (const major of testMajors()) {
  describe(`differential fuzzer (PostgreSQL ${major})`, () => {
    let server: EmbeddedPostgres
    let dir: string
    before(async () => {
      server = await startServer(major, FUZZ_SETTINGS)
      dir = mkdtempSync(join(tmpdir(), 'inlet-fuzz-'))
    })
    after(async () => {
      await server?.stop()
      rmSync(dir, { recursive: true, force: true })
    })

    for (const r of regressions) {
      test(`regression ${r.file}`, { timeout: 300_000 }, async () => {
        const result = await roundPasses(server, r.round, dir)
        assert.deepEqual(result.problems, [], result.log.join('').slice(-3000))
      })
    }

    for (let n = 0; n < SLICE; n++) {
      const seed = FIRST_SEED + n + (major === 13 ? 0 : 500)
      test(`seeded round ${seed}`, { timeout: 300_000 }, async () => {
        const round = generateRound(seed)
        const result = await roundPasses(server, round, dir)
        assert.deepEqual(result.problems, [], `${JSON.stringify(round)}\n${result.log.join('').slice(-3000)}`)
      })
    }
  })
}
