/**
 * The CLI on user mistakes: clear coded errors, exit 2 for bad config or no connection, no stack
 * traces, never a password. And platform detection from the roles managed services create.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { EmbeddedPostgres } from '../src/embedded/postgres-server.js'
import { freePort } from '../src/embedded/postgres-server.js'
import { runAndKill, runCli, sql, startServer, testMajors, type CliResult } from './support/servers.js'

function assertCleanError(result: CliResult, code: string, exit: number): void {
  assert.equal(result.code, exit, result.stdout + result.stderr)
  assert.match(result.stderr + result.stdout, new RegExp(code))
  assert.doesNotMatch(result.stderr, /\n\s+at .+:\d+:\d+/, 'no stack trace')
}

describe('CLI without a server', () => {
  it('prints help and version', async () => {
    const help = await runCli(['--help'])
    assert.equal(help.code, 0)
    for (const command of ['doctor', 'setup', 'teardown', 'slots']) assert.match(help.stdout, new RegExp(`\\n  ${command} `))
    const version = await runCli(['--version'])
    assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/)
    for (const command of ['doctor', 'setup', 'teardown', 'slots']) {
      const sub = await runCli([command, '--help'])
      assert.equal(sub.code, 0)
      assert.match(sub.stdout, new RegExp(`inlet ${command}`))
    }
  })

  it('rejects an unknown command or flag with exit 2', async () => {
    assertCleanError(await runCli(['bogus']), 'INLET-C004', 2)
    assertCleanError(await runCli(['doctor', '--bogus']), 'INLET-C004', 2)
    assertCleanError(await runCli(['doctor', '--source']), 'INLET-C004', 2)
  })

  it('lists every problem of an invalid config file with its field path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'inlet-cfg-'))
    const file = join(dir, 'inlet.yaml')
    writeFileSync(file, 'sources:\n  - url: postgres://a@h/db\n    slot: Bad-Name\n  - passwrd: x\nscd: 3\n')
    const result = await runCli(['doctor', '--config', file])
    assertCleanError(result, 'INLET-C003', 2)
    assert.match(result.stderr, /4 problems/)
    assert.match(result.stderr, /sources\[0\]\.slot: replication slot names may contain only/)
    assert.match(result.stderr, /sources\[1\]\.url: /)
    assert.match(result.stderr, /sources\[1\]: unknown field "passwrd"/)
    assert.match(result.stderr, /scd: /)

    writeFileSync(file, 'sources:\n  - url: [unclosed\n')
    assertCleanError(await runCli(['doctor', '--config', file]), 'INLET-C002', 2)
    assertCleanError(await runCli(['doctor', '--config', join(dir, 'missing.yaml')]), 'INLET-C001', 2)
  })

  it('needs a source', async () => {
    assertCleanError(await runCli(['doctor'], { HOME: tmpdir() }), 'INLET-C006', 2)
  })

  it('cannot connect: exit 2, names the target, never the password', async () => {
    const port = await freePort()
    const result = await runCli(['doctor', '--source', `postgres://inlet:Sup3rSecret@127.0.0.1:${port}/shop`])
    assert.equal(result.code, 2)
    assert.match(result.stdout, /INLET-N001: Cannot reach PostgreSQL at 127\.0\.0\.1:\d+ as inlet/)
    assert.ok(!(result.stdout + result.stderr).includes('Sup3rSecret'))
    const bad = await runCli(['doctor', '--source', `postgres://inlet:Sup3rSecret@127.0.0.1:${port}/shop?sslmode=sometimes`])
    assertCleanError(bad, 'INLET-C005', 2)
    assert.ok(!(bad.stdout + bad.stderr).includes('Sup3rSecret'))
  })
})

for (const major of testMajors()) {
  describe(`CLI against PostgreSQL ${major}`, () => {
    let server: EmbeddedPostgres
    before(async () => {
      server = await startServer(major)
      await sql(server, 'postgres', `create role inlet login replication password 'right-password'; create table public.t (id int primary key); grant select on public.t to inlet;`)
    })
    after(async () => server?.stop())

    it('wrong password: INLET-N002, exit 2, the password is not printed', async () => {
      const result = await runCli(['doctor', '--source', `postgres://inlet:Wr0ng-Pa55@127.0.0.1:${server.port}/postgres?sslmode=disable`])
      assert.equal(result.code, 2)
      assert.match(result.stdout, /INLET-N002: Authentication to inlet@127\.0\.0\.1:\d+\/postgres failed/)
      assert.ok(!(result.stdout + result.stderr).includes('Wr0ng-Pa55'))
    })

    it('takes the password from PGPASSWORD and the target from PG* variables', async () => {
      const result = await runCli(['doctor', '--tables', 'public.t', '--json'], { PGHOST: '127.0.0.1', PGPORT: String(server.port), PGUSER: 'inlet', PGDATABASE: 'postgres', PGPASSWORD: 'right-password', PGSSLMODE: 'disable' })
      const report = JSON.parse(result.stdout) as { sources: Array<{ target: string; findings: Array<{ code: string }> }> }
      assert.equal(report.sources[0]?.target, `inlet@127.0.0.1:${server.port}/postgres`)
      assert.ok(report.sources[0]?.findings.some((f) => f.code === 'ROLE_REPLICATION_OK'))
    })

    it('takes the password from ~/.pgpass', async () => {
      const home = mkdtempSync(join(tmpdir(), 'inlet-home-'))
      writeFileSync(join(home, '.pgpass'), `127.0.0.1:${server.port}:postgres:inlet:right-password\n`, { mode: 0o600 })
      const result = await runCli(['doctor', '--source', `postgres://inlet@127.0.0.1:${server.port}/postgres?sslmode=disable`, '--tables', 'public.t'], { HOME: home })
      assert.notEqual(result.code, 2, result.stdout)
      assert.match(result.stdout, /ROLE_REPLICATION_OK/)
    })

    it('detects RDS from its roles and tailors the fixes', async () => {
      await sql(server, 'postgres', 'create database rdsish')
      await sql(server, 'postgres', `create role rds_superuser; create role rds_replication; create role app login password 'app'`)
      await sql(server, 'rdsish', 'create table public.t (id int primary key); grant select on public.t to app')
      const result = await runCli(['doctor', '--source', `postgres://app:app@127.0.0.1:${server.port}/rdsish?sslmode=disable`, '--tables', 'public.t', '--json'])
      const report = JSON.parse(result.stdout) as { sources: Array<{ findings: Array<{ code: string; fix?: string; message: string }> }> }
      const findings = report.sources[0]?.findings ?? []
      assert.match(findings.find((f) => f.code === 'SERVER_VERSION_OK')?.message ?? '', /Amazon RDS for PostgreSQL \(detected: role rds_superuser exists\)/)
      assert.equal(findings.find((f) => f.code === 'ROLE_NO_REPLICATION')?.fix, 'GRANT rds_replication TO "app";')
      assert.match(findings.find((f) => f.code === 'WAL_KEEP_SIZE_UNLIMITED')?.fix ?? '', /aws rds modify-db-parameter-group .*ParameterName=max_slot_wal_keep_size/)
      await sql(server, 'rdsish', 'grant rds_replication to app')
      const granted = JSON.parse((await runCli(['doctor', '--source', `postgres://app:app@127.0.0.1:${server.port}/rdsish?sslmode=disable`, '--tables', 'public.t', '--json'])).stdout) as typeof report
      assert.match(granted.sources[0]?.findings.find((f) => f.code === 'ROLE_REPLICATION_OK')?.message ?? '', /member of rds_replication/)
    })

    it('slots list and slots drop', async () => {
      const source = server.url('postgres')
      await sql(server, 'postgres', `select pg_create_logical_replication_slot('forgotten', 'pgoutput')`)
      const list = await runCli(['slots', 'list', '--source', source])
      assert.equal(list.code, 0)
      assert.match(list.stdout, /forgotten +logical pgoutput, db postgres, inactive, retains/)
      const drop = await runCli(['slots', 'drop', 'forgotten', '--source', source])
      assert.equal(drop.code, 0, drop.stderr)
      assert.equal((await sql(server, 'postgres', `select 1 from pg_replication_slots where slot_name = 'forgotten'`)).length, 0)
      assertCleanError(await runCli(['slots', 'drop', 'forgotten', '--source', source]), 'INLET-S003', 1)
    })

    it('run --once stopped by SIGTERM before it caught up exits 3; run again, it finishes with 0', async () => {
      await sql(server, 'postgres', `create database once_signal`)
      await sql(server, 'once_signal', `create table big (id bigint primary key, note text); insert into big select g, md5(g::text) from generate_series(1, 400000) g; create publication inlet_pub for table big`)
      const destination = `duckdb:${join(mkdtempSync(join(tmpdir(), 'inlet-once-')), 'once.duckdb')}`
      const args = ['run', '--once', '--source', server.url('once_signal'), '--destination', destination, '--json']
      const stopped = await runAndKill(args, 100, {}, /"event":"snapshot\.start"/, 'SIGTERM')
      assert.equal(stopped.code, 3, stopped.stderr.slice(-2000))
      assert.match(stopped.stderr, /"event":"run\.interrupted"/)
      const again = await runCli(['run', '--once', '--source', server.url('once_signal'), '--destination', destination])
      assert.equal(again.code, 0, again.stderr)
    })
  })
}
