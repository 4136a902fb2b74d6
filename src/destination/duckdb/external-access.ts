/**
 * What DuckDB may touch outside its tables. DuckDB reads and writes any file by default
 * (read_csv('/etc/passwd'), COPY ... TO, LOAD), and `inlet query` and the run's local API hand it
 * SQL from whoever can reach them. So once the destination is open, external access goes off
 * for good (DuckDB cannot turn it back on while running), with exceptions for what Inlet itself
 * needs: the database file and the files DuckDB keeps beside it, the scratch root (staged batches,
 * snapshot chunks) and the temporary directory. A read-only open (inlet query, inlet status) gets
 * no exception, and its configuration is locked as well.
 */
import { scratchRoot } from '../scratch.js'
import { literal, type SqlSession } from './sql-session.js'

/** The files DuckDB writes beside a database file (its WAL, and the WAL of a checkpoint or a recovery in progress). */
const BESIDE_FILE = ['', '.wal', '.wal.checkpoint', '.wal.recovery']

export function temporaryDirectory(databasePath: string): string {
  return `${databasePath}.tmp`
}

/** For the writing instance, after the file is attached; `more`: directories a destination built on it writes. */
export async function confineWriter(sql: SqlSession, databasePath: string, more: readonly string[] = []): Promise<void> {
  const directories = [scratchRoot(databasePath), temporaryDirectory(databasePath), ...more].map((d) => literal(`${d}/`))
  await sql.run(`SET allowed_directories = [${directories.join(', ')}]`)
  await sql.run(`SET allowed_paths = [${BESIDE_FILE.map((s) => literal(databasePath + s)).join(', ')}]`)
  await sql.run('SET enable_external_access = false')
}

/** For a read-only instance, once open: nothing outside the file, no setting changed. */
export async function confineReader(sql: SqlSession): Promise<void> {
  await sql.run('SET enable_external_access = false')
  await sql.run('SET lock_configuration = true')
}
