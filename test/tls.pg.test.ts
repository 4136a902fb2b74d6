/**
 * Connection security end to end: libpq sslmode semantics against a TLS-enabled server, and what
 * doctor reports for each mode.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { EmbeddedPostgres } from '../src/embedded/postgres-server.js'
import { runCli, sql, startServer, testMajors } from './support/servers.js'
import { makeCertificates, type TestCertificates } from './support/tls.js'

for (const major of testMajors()) {
  describe(`TLS on PostgreSQL ${major}`, () => {
    let server: EmbeddedPostgres
    let certs: TestCertificates
    let home: string
    const url = (host: string, params: string) => `postgres://postgres:${server.password}@${host}:${server.port}/postgres?${params}`
    const doctorTls = async (source: string) => {
      const result = await runCli(['doctor', '--source', source, '--tables', 'public.*', '--json'], { HOME: home })
      const report = JSON.parse(result.stdout) as { sources: Array<{ findings: Array<{ code: string; level: string }>; error?: { code: string } }> }
      return report.sources[0]
    }

    before(async () => {
      certs = makeCertificates()
      home = mkdtempSync(join(tmpdir(), 'inlet-home-'))
      server = await startServer(major, { ssl: true, ssl_cert_file: certs.certFile, ssl_key_file: certs.keyFile })
      await sql(server, 'postgres', 'create table public.t (id int primary key)')
    })
    after(async () => {
      await server?.stop()
      rmSync(certs.dir, { recursive: true, force: true })
      rmSync(home, { recursive: true, force: true })
    })

    it('verify-full with the right CA: encrypted and verified', async () => {
      for (const host of ['127.0.0.1', 'localhost']) {
        const tls = (await doctorTls(url(host, `sslmode=verify-full&sslrootcert=${certs.caFile}`)))?.findings.find((f) => f.code.startsWith('TLS_'))
        assert.deepEqual(tls, { level: 'ok', code: 'TLS_VERIFIED', check: 'tls', message: 'TLS is in use and the server certificate and host name were verified (sslmode=verify-full).' })
      }
    })

    it('require: encrypted, certificate not verified', async () => {
      const tls = (await doctorTls(url('127.0.0.1', 'sslmode=require')))?.findings.find((f) => f.code.startsWith('TLS_'))
      assert.equal(tls?.code, 'TLS_UNVERIFIED')
    })

    it('prefer (the libpq default) uses TLS when the server offers it', async () => {
      const tls = (await doctorTls(url('127.0.0.1', 'application_name=inlet')))?.findings.find((f) => f.code.startsWith('TLS_'))
      assert.equal(tls?.code, 'TLS_UNVERIFIED')
    })

    it('disable: not encrypted', async () => {
      const tls = (await doctorTls(url('127.0.0.1', 'sslmode=disable')))?.findings.find((f) => f.code.startsWith('TLS_'))
      assert.deepEqual([tls?.code, tls?.level], ['TLS_OFF', 'info'])
    })

    it('verify-full against a certificate from another CA is refused (exit 2, INLET-N003)', async () => {
      const result = await runCli(['doctor', '--source', url('127.0.0.1', `sslmode=verify-full&sslrootcert=${certs.otherCaFile}`)], { HOME: home })
      assert.equal(result.code, 2)
      assert.match(result.stdout, /INLET-N003/)
      assert.ok(!result.stdout.includes(server.password) && !result.stderr.includes(server.password))
    })

    it('verify-ca without any root certificate says how to provide one', async () => {
      const result = await runCli(['doctor', '--source', url('127.0.0.1', 'sslmode=verify-ca')], { HOME: home })
      assert.equal(result.code, 2)
      assert.match(result.stdout, /INLET-C005.*needs a root certificate/)
      assert.match(result.stdout, /sslrootcert=/)
    })
  })
}
