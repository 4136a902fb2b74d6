/**
 * A throwaway certificate authority and server certificate (CN and SAN localhost / 127.0.0.1),
 * made with the openssl command line, for TLS tests. Files are readable by the server's user.
 */
import { execFileSync } from 'node:child_process'
import { chownSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'

export interface TestCertificates {
  readonly dir: string
  readonly caFile: string
  readonly certFile: string
  readonly keyFile: string
  /** Another CA that did not sign the server certificate. */
  readonly otherCaFile: string
}

export function makeCertificates(): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), 'inlet-tls-'))
  const p = (name: string) => join(dir, name)
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' })
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=inlet-test-ca', '-keyout', p('ca.key'), '-out', p('ca.crt'))
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=other-ca', '-keyout', p('other.key'), '-out', p('other.crt'))
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', p('server.key'), '-out', p('server.csr'))
  writeFileSync(p('ext.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n')
  openssl('x509', '-req', '-in', p('server.csr'), '-CA', p('ca.crt'), '-CAkey', p('ca.key'), '-CAcreateserial', '-days', '2', '-out', p('server.crt'), '-extfile', p('ext.cnf'))
  if (userInfo().uid === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString())
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString())
    for (const f of ['', 'server.key', 'server.crt']) chownSync(p(f), uid, gid)
  }
  return { dir, caFile: p('ca.crt'), certFile: p('server.crt'), keyFile: p('server.key'), otherCaFile: p('other.crt') }
}
