/**
 * Several source databases in one config: each with its own publication and slot, set up and
 * checked in one command, with the slot budget counted across them. And the demo, run past the
 * stream's periodic checks (publication every 5 s).
 */
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { EmbeddedPostgres } from '../src/embedded/postgres-server.js'
import { createDatabase, runCli, sql, startServer, testMajors } from './support/servers.js'

for (const major of testMajors()) {
  describe(`two source databases on PostgreSQL ${major}`, () => {
    let server: EmbeddedPostgres
    let configFile: string
    before(async () => {
      server = await startServer(major)
      await createDatabase(server, 'shop', 'create table public.orders (id int primary key, total int)')
      await createDatabase(server, 'billing', 'create table public.invoices (id int primary key, amount int)')
      configFile = join(mkdtempSync(join(tmpdir(), 'inlet-multi-')), 'inlet.yaml')
      const source = (db: string) => `postgres://inlet@127.0.0.1:${server.port}/${db}?sslmode=disable`
      writeFileSync(
        configFile,
        `sources:
  - url: ${source('shop')}
    admin_url: ${server.url('shop')}
  - name: billing
    url: ${source('billing')}
    admin_url: ${server.url('billing')}
    publication: billing_pub
tables: ["public.*"]
`,
      )
    })
    after(async () => server?.stop())

    it('doctor counts the slots both databases need, then setup readies both', async () => {
      const before = await runCli(['doctor', '--config', configFile, '--json'], { PGPASSWORD: 'x' })
      assert.equal(before.code, 2, 'the replication user does not exist yet')

      const setup = await runCli(['setup', '--apply', '--config', configFile], { INLET_REPLICATION_PASSWORD: 'multi-secret' })
      assert.equal(setup.code, 0, setup.stderr)
      assert.match(setup.stdout, /Source shop[\s\S]*applied +Replication slot inlet_shop[\s\S]*Source billing[\s\S]*applied +Replication slot inlet_billing/)

      const doctor = await runCli(['doctor', '--config', configFile, '--json'], { PGPASSWORD: 'multi-secret' })
      assert.equal(doctor.code, 0, doctor.stdout)
      const report = JSON.parse(doctor.stdout) as { sources: Array<{ source: string; findings: Array<{ code: string }> }> }
      assert.deepEqual(report.sources.map((s) => s.source), ['shop', 'billing'])
      const slots = await sql<{ slot_name: string; database: string }>(server, 'postgres', 'select slot_name, database from pg_replication_slots order by slot_name')
      assert.deepEqual(slots, [{ slot_name: 'inlet_billing', database: 'billing' }, { slot_name: 'inlet_shop', database: 'shop' }])
      const [pub] = await sql<{ pubname: string }>(server, 'billing', 'select pubname from pg_publication')
      assert.equal(pub?.pubname, 'billing_pub')
      assert.ok(!(setup.stdout + setup.stderr + doctor.stdout).includes('multi-secret'))
    })
  })
}

describe('inlet demo', () => {
  it('runs doctor, setup and doctor, then replicates a live workload into DuckDB with equal row counts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'inlet-demo-'))
    try {
      const result = await runCli(['demo', '--duration', '7', '--destination', join(dir, 'demo.duckdb')])
      assert.equal(result.code, 0, result.stdout + result.stderr)
      assert.match(result.stdout, /1\. inlet doctor, before setup[\s\S]*FAIL +PUBLICATION_MISSING/)
      assert.match(result.stdout, /applied +Replication slot inlet_shop/)
      assert.match(result.stdout, /3\. inlet doctor, as the new replication user "inlet"[\s\S]*Ready: nothing fails\./)
      assert.match(result.stdout, /Snapshot done: \d+ rows/)
      const rows = [...result.stdout.matchAll(/public\.(\w+) +(\d+) +(\d+) (equal|differs)/g)]
      assert.deepEqual(rows.map((r) => r[1]), ['customers', 'products', 'orders', 'order_items', 'events', 'page_views'])
      for (const r of rows) assert.equal(r[2], r[3], `${r[1]}: source ${r[2]}, destination ${r[3]}`)
      assert.ok(existsSync(join(dir, 'demo.duckdb')))
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
