/**
 * Connection security: is the link encrypted, and was the server's certificate verified?
 */
import type { Check } from '../check-context.js'

const VERIFY_FIX = 'Add sslmode=verify-full&sslrootcert=/path/to/ca.pem to the source URL (RDS: global-bundle.pem; Cloud SQL: server-ca.pem; Azure: the DigiCert Global Root G2 certificate), or sslrootcert=system for a public CA.'

export const tlsCheck: Check = ({ facts }) => {
  const { tls } = facts
  if (tls.encrypted && tls.hostnameVerified) {
    return [{ level: 'ok', code: 'TLS_VERIFIED', check: 'tls', message: 'TLS is in use and the server certificate and host name were verified (sslmode=verify-full).' }]
  }
  if (tls.encrypted && tls.certificateVerified) {
    return [{ level: 'info', code: 'TLS_VERIFIED', check: 'tls', message: `TLS is in use and the certificate chain was verified, but not the host name (sslmode=${tls.sslmode}).`, fix: 'Use sslmode=verify-full to also check the host name.' }]
  }
  if (tls.encrypted) {
    return [
      {
        level: tls.local ? 'info' : 'warn',
        code: 'TLS_UNVERIFIED',
        check: 'tls',
        message: `TLS is in use but the server certificate was not verified (sslmode=${tls.sslmode}): a machine in the middle could read the replication stream.`,
        fix: VERIFY_FIX,
      },
    ]
  }
  return [
    {
      level: tls.local ? 'info' : 'warn',
      code: 'TLS_OFF',
      check: 'tls',
      message: `The connection is not encrypted (sslmode=${tls.sslmode}${tls.local ? ', local connection' : ''}): passwords and row data cross the network in clear text.`,
      fix: tls.local ? 'Fine on loopback; for remote servers use sslmode=verify-full.' : VERIFY_FIX,
    },
  ]
}
