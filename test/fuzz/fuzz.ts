/**
 * `npm run fuzz`: rounds of generate.ts on real PostgreSQL servers (13 and 18 unless
 * INLET_TEST_PG_MAJORS says otherwise), each compared value by value with its source. A failing
 * round is shrunk (steps, then ops, then tables' rows dropped while it still fails) and written
 * to test/fuzz/regressions/, which the test suite replays on every run.
 *
 *   npm run fuzz -- --rounds 500 --seed 1 [--large] [--majors 13,18]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import type { EmbeddedPostgres } from '../../src/embedded/postgres-server.js'
import { PROJECT_ROOT, startServer, testMajors } from '../support/servers.js'
import { generateRound, type Round } from './generate.js'
import { runRound } from './round.js'

/** Server settings of every round: transactions past 64 kB stream (14+) or spill while decoded. */
export const FUZZ_SETTINGS = { logical_decoding_work_mem: '64kB', max_replication_slots: 40, max_wal_senders: 40 } as const

let databases = 0

/** Runs a round in a fresh database; true when source and destination are equal. */
export async function roundPasses(server: EmbeddedPostgres, round: Round, directory: string): Promise<{ ok: boolean; problems: readonly string[]; log: readonly string[] }> {
  const outcome = await runRound(server, round, directory, `f${process.pid}_${++databases}`)
  return { ok: outcome.problems.length === 0, ...outcome }
}

/** Smaller rounds that still fail: steps removed in halves, then one by one, then ops within steps. */
export async function shrink(server: EmbeddedPostgres, round: Round, directory: string, budget = 60): Promise<Round> {
  let best = round
  let tries = 0
  // Smaller rounds count only when they fail the same way (a round that fails otherwise is another defect).
  const kind = signature((await roundPasses(server, round, directory)).problems)
  // It passed when run again (a kill landed elsewhere): every candidate would "fail" alike.
  if (kind === 'pass') return round
  const fails = async (candidate: Round) => tries++ < budget && signature((await roundPasses(server, candidate, directory)).problems) === kind
  for (let chunk = Math.ceil(best.steps.length / 2); chunk >= 1; chunk = Math.floor(chunk / 2)) {
    for (let at = 0; at < best.steps.length; ) {
      const candidate = { ...best, steps: [...best.steps.slice(0, at), ...best.steps.slice(at + chunk)] }
      if (await fails(candidate)) best = candidate
      else at += chunk
    }
  }
  if (best.initialRows > 0 && (await fails({ ...best, initialRows: 0 }))) best = { ...best, initialRows: 0 }
  for (const [i, step] of best.steps.entries()) {
    if (step.step !== 'txn' || step.ops.length < 2) continue
    for (let o = 0; o < (best.steps[i] as typeof step).ops.length; ) {
      const current = best.steps[i] as typeof step
      const candidate = { ...best, steps: best.steps.map((s, j) => (j === i ? { ...current, ops: current.ops.filter((_, k) => k !== o) } : s)) }
      if (await fails(candidate)) best = candidate
      else o++
    }
  }
  return best
}

/** What kind of failure: the error's first line, or which table differs and how. */
function signature(problems: readonly string[]): string {
  const first = problems[0]
  if (first === undefined) return 'pass'
  if (first.startsWith('round failed') || first.startsWith('compare failed')) return first.split('\n')[0]?.replace(/\d+/g, 'N') ?? first
  return first.replace(/:.*$/, '') + (first.includes('no column') ? ' column' : first.includes('overlap') ? ' history' : ' rows')
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rounds: { type: 'string', default: '500' }, seed: { type: 'string', default: String(Date.now() % 1_000_000) }, large: { type: 'boolean', default: false }, majors: { type: 'string' } } })
  const rounds = Number(values.rounds)
  const first = Number(values.seed)
  const majors = values.majors === undefined ? testMajors() : values.majors.split(',').map(Number)
  const directory = mkdtempSync(join(tmpdir(), 'inlet-fuzz-'))
  const regressions = join(PROJECT_ROOT, 'test', 'fuzz', 'regressions')
  let failed = 0
  try {
    for (const major of majors) {
      const server = await startServer(major, FUZZ_SETTINGS)
      try {
        let clean = 0
        const began = Date.now()
        for (let n = 0; n < rounds; n++) {
          const round = generateRound(first + n, values.large === true ? 'large' : 'small')
          const result = await roundPasses(server, round, directory)
          if (result.ok) {
            clean++
            if ((n + 1) % 10 === 0) console.log(`PostgreSQL ${major}: ${n + 1}/${rounds} rounds, ${clean} clean (${Math.round((Date.now() - began) / 1000)} s)`)
            continue
          }
          failed++
          console.log(`PostgreSQL ${major}: seed ${round.seed} FAILED:\n  ${result.problems.slice(0, 5).join('\n  ')}`)
          const small = await shrink(server, round, directory)
          if (small === round) console.log('  it passed when run again (timing): kept whole')
          mkdirSync(regressions, { recursive: true })
          const file = join(regressions, `seed-${round.seed}-pg${major}.json`)
          writeFileSync(file, `${JSON.stringify({ major, round: small }, null, 1)}\n`)
          console.log(`  shrunk to ${small.steps.length} step(s): ${file}`)
        }
        console.log(`PostgreSQL ${major}: ${clean} of ${rounds} rounds clean (seeds ${first}..${first + rounds - 1})`)
      } finally {
        await server.stop()
      }
    }
  } finally {
    rmSync(directory, { recursive: true, force: true })
  }
  process.exitCode = failed > 0 ? 1 : 0
}

if (process.argv[1]?.endsWith('fuzz.js') === true) await main()
