/**
 * SCRAM-SHA-256 password verifiers, as psql's \password computes them (RFC 5802/7677 and
 * PostgreSQL's scram-common.c). `CREATE ROLE ... PASSWORD 'SCRAM-SHA-256$...'` then stores the
 * verifier as is, so the clear password never travels to the server or lands in its logs.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto'

const ITERATIONS = 4096 // PostgreSQL's default scram_iterations

export function scramSha256Verifier(password: string, salt: Buffer = randomBytes(16), iterations = ITERATIONS): string {
  // PostgreSQL applies SASLprep; NFKC normalisation covers it for the passwords people type.
  const salted = pbkdf2Sync(Buffer.from(password.normalize('NFKC'), 'utf8'), salt, iterations, 32, 'sha256')
  const clientKey = createHmac('sha256', salted).update('Client Key').digest()
  const storedKey = createHash('sha256').update(clientKey).digest()
  const serverKey = createHmac('sha256', salted).update('Server Key').digest()
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`
}
