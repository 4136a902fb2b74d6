/**
 * The catalogue of Inlet's error codes. Codes are stable: scripts and alerting may match on them.
 * Each entry says when it happens and what to do; `docs/error-codes.md` is generated from this file
 * (`npm run docs`), and a test fails when the two drift apart.
 *
 * Prefixes: C = configuration and usage, N = connecting, S = source database, U = setup and
 * teardown, P = replication protocol, D = destination, X = internal.
 */

export type ErrorArea = 'config' | 'connection' | 'source' | 'setup' | 'protocol' | 'destination' | 'internal'

export interface ErrorSpec {
  readonly area: ErrorArea
  /** Short title used in docs. */
  readonly title: string
  /** Cause and fix, for the generated documentation. */
  readonly description: string
  /** Whether retrying the same operation later can succeed without a change by the user. */
  readonly retryable: boolean
}

export const ERROR_CODES = {
  'INLET-C001': {
    area: 'config',
    title: 'Config file unreadable',
    description: 'The file given with `--config` (or `./inlet.yaml`) does not exist or cannot be read. Check the path and its permissions.',
    retryable: false,
  },
  'INLET-C002': {
    area: 'config',
    title: 'Config file is not valid YAML',
    description: 'The config file has a YAML syntax error; the message gives the line and column. Fix the syntax.',
    retryable: false,
  },
  'INLET-C003': {
    area: 'config',
    title: 'Config does not match the schema',
    description: 'One or more fields are missing, unknown or of the wrong type. Every problem is listed with its field path (for example `sources[1].url`). See `docs/configuration.md`.',
    retryable: false,
  },
  'INLET-C004': {
    area: 'config',
    title: 'Bad command line',
    description: 'An unknown command or flag, or a flag without its value. Run `inlet --help` or `inlet COMMAND --help`.',
    retryable: false,
  },
  'INLET-C005': {
    area: 'config',
    title: 'Bad connection string',
    description: 'A source or admin connection string cannot be parsed, or names an unsupported option value (for example an unknown `sslmode`). Use a libpq URL such as `postgres://user@host:5432/db?sslmode=verify-full` or `host=... dbname=...` keywords.',
    retryable: false,
  },
  'INLET-C006': {
    area: 'config',
    title: 'No source configured',
    description: 'The command needs at least one source database: pass `--source URL`, list `sources:` in the config file, or set the `PG*` environment variables (at least `PGDATABASE` or `PGHOST`).',
    retryable: false,
  },
  'INLET-C007': {
    area: 'config',
    title: 'Conflicting or duplicate settings',
    description: 'Two sources use the same slot name (slot names are cluster-wide), the same source is listed twice, or flags that cannot be combined were given together.',
    retryable: false,
  },
  'INLET-N001': {
    area: 'connection',
    title: 'Cannot reach the database server',
    description: 'The TCP connection was refused, timed out or the host name did not resolve. Check host, port, firewall rules or security groups, and that the server is running.',
    retryable: true,
  },
  'INLET-N002': {
    area: 'connection',
    title: 'Authentication failed',
    description: 'The server rejected the user or password, or `pg_hba.conf` has no entry for this connection. Check the password (URL, `PGPASSWORD` or `~/.pgpass`) and that `pg_hba.conf` allows this user, database and address.',
    retryable: false,
  },
  'INLET-N003': {
    area: 'connection',
    title: 'TLS negotiation or certificate verification failed',
    description: 'With `sslmode=verify-ca`/`verify-full` the server certificate must chain to `sslrootcert` (and match the host name for `verify-full`); with `require` the server must accept TLS. Point `sslrootcert` at your provider\'s CA bundle, or fix the server\'s TLS settings.',
    retryable: false,
  },
  'INLET-N004': {
    area: 'connection',
    title: 'Database does not exist',
    description: 'The database named in the connection string does not exist on that server. Check the name (it is case-sensitive when quoted).',
    retryable: false,
  },
  'INLET-N005': {
    area: 'connection',
    title: 'Connection lost',
    description: 'An established connection was closed by the server or the network. Inlet retries where it is safe; otherwise rerun the command.',
    retryable: true,
  },
  'INLET-S001': {
    area: 'source',
    title: 'Source query failed',
    description: 'A catalog query or statement on the source failed; the cause carries the server\'s message and SQLSTATE. Usually a missing privilege: `inlet doctor` lists the grants that fix it.',
    retryable: false,
  },
  'INLET-S002': {
    area: 'source',
    title: 'Replication slot is in use',
    description: 'The slot is active for another process (PID in the message). Stop that consumer, or terminate it with `SELECT pg_terminate_backend(PID)` if it is a stale Inlet process, then retry.',
    retryable: true,
  },
  'INLET-S003': {
    area: 'source',
    title: 'Replication slot not found',
    description: 'No slot with that name exists on the server. List slots with `inlet slots list`.',
    retryable: false,
  },
  'INLET-S004': {
    area: 'source',
    title: 'Source is not ready for Inlet',
    description: 'A prerequisite checked by `inlet doctor` fails (for example `wal_level` is not `logical`). Run `inlet doctor` for the finding and its fix.',
    retryable: false,
  },
  'INLET-U001': {
    area: 'setup',
    title: 'Replication user password not provided',
    description: 'Creating the replication user needs a password. Set `INLET_REPLICATION_PASSWORD` in the environment, or run `inlet setup --apply` on a terminal to be prompted (the password is never echoed or logged).',
    retryable: false,
  },
  'INLET-U002': {
    area: 'setup',
    title: 'Setup statement failed',
    description: 'A statement of `inlet setup --apply` failed; earlier steps stay applied (each step is idempotent, so rerunning is safe). The message names the step and the server error; the admin connection (`--admin`) usually lacks a privilege such as superuser or table ownership.',
    retryable: false,
  },
  'INLET-U003': {
    area: 'setup',
    title: 'Confirmation required',
    description: '`inlet teardown` drops objects on the source. Pass `--yes` (or confirm at the prompt on a terminal).',
    retryable: false,
  },
  'INLET-U004': {
    area: 'setup',
    title: 'inlet init has no terminal to ask on',
    description: '`inlet init` asks its questions only on a terminal. In a script, pass `--yes` with the answers as flags (`--admin`, `--tables`, `--scd2`, `--exclude`, `--database`); every question left out takes its default.',
    retryable: false,
  },
  'INLET-U005': {
    area: 'setup',
    title: 'The config file exists',
    description: '`inlet init` does not overwrite a config file it did not just write. Pass `--output FILE` for another name, or `--force` (or answer yes at the prompt) to replace it.',
    retryable: false,
  },
  'INLET-U006': {
    area: 'setup',
    title: 'inlet init was cancelled',
    description: 'Ctrl-C or end of input at a question of `inlet init`: nothing after that question was done, and the databases finished before it are written to the config file. Ctrl-C while setup SQL runs stops at that statement. Either way run `inlet init` again: every step is idempotent, and those already applied are found done.',
    retryable: false,
  },
  'INLET-P001': {
    area: 'protocol',
    title: 'Malformed replication message',
    description: 'A message from the replication stream could not be decoded; the message names the byte offset and message tag. This points at a bug or a corrupted connection: rerun with INLET_DEBUG=1 and report it. Nothing past the last durable transaction was acknowledged, so a restart loses nothing.',
    retryable: true,
  },
  'INLET-P002': {
    area: 'protocol',
    title: 'Replication messages out of order',
    description: 'The stream broke the protocol\'s framing (for example a change outside a transaction, or a Stream Commit for an unknown transaction). Inlet stops without acknowledging anything it has not applied; a restart resumes from the last durable transaction.',
    retryable: true,
  },
  'INLET-S005': {
    area: 'source',
    title: 'Replication command failed',
    description: 'A walsender command (IDENTIFY_SYSTEM, CREATE_REPLICATION_SLOT, START_REPLICATION) failed; the cause has the server\'s message. Common causes: wal_level is not logical, the role lacks REPLICATION, the publication does not exist, or max_replication_slots is reached. `inlet doctor` names the fix.',
    retryable: false,
  },
  'INLET-S006': {
    area: 'source',
    title: 'Replication slot lost',
    description: 'The destination holds a checkpoint for this source, but the slot it was taken from no longer exists (dropped, or invalidated and removed). Changes since the checkpoint are gone from the server, so the tables must be copied again: `inlet run --resync` recreates the slot and copies every table beside itself, swapping each in when loaded (the old tables stay readable until then).',
    retryable: false,
  },
  'INLET-S007': {
    area: 'source',
    title: 'Schema change that needs a new copy',
    description: 'A replicated table changed in a way the destination cannot follow in place: a type the destination column cannot hold, a dropped key column, or a rewrite that computed new values (ALTER TYPE ... USING, a volatile default). Nothing of that batch was applied. Copy the table again with `inlet refresh TABLE`, then rerun `inlet run`.',
    retryable: false,
  },
  'INLET-S008': {
    area: 'source',
    title: 'Slot ahead of the destination',
    description: 'The replication slot\'s confirmed position is past the checkpoint the destination holds: the slot was dropped and recreated, or another consumer advanced it. The changes in between are not in the destination and the slot no longer has them. Copy every table again with `inlet run --resync`.',
    retryable: false,
  },
  'INLET-D001': {
    area: 'destination',
    title: 'Destination cannot be opened',
    description: 'The DuckDB file could not be opened: the directory does not exist or is not writable, or another process (another `inlet run`, a DuckDB shell) holds it. DuckDB allows one writing process per file.',
    retryable: true,
  },
  'INLET-D002': {
    area: 'destination',
    title: 'Destination write failed',
    description: 'Writing a batch into DuckDB failed; the message names the table and DuckDB\'s error (for example a value outside the destination type\'s range, or a full disk). The batch was rolled back and nothing past the last checkpoint was acknowledged to the source, so rerunning after the fix loses nothing.',
    retryable: false,
  },
  'INLET-D003': {
    area: 'destination',
    title: 'Destination table conflict',
    description: 'A destination table Inlet would create already exists and is not one Inlet created for this source (or belongs to another source). Rename it in the destination, or map the source table to another name with `as:` in inlet.yaml.',
    retryable: false,
  },
  'INLET-D004': {
    area: 'destination',
    title: 'Destination belongs to another source',
    description: 'The destination file holds the state of a different PostgreSQL server or slot for this source name. Use another destination file, or another source `name:`.',
    retryable: false,
  },
  'INLET-D005': {
    area: 'destination',
    title: 'Query refused or failed',
    description: '`inlet query` runs one read-only statement (SELECT, WITH, FROM, DESCRIBE, SHOW, SUMMARIZE, EXPLAIN): the text held another kind of statement, several statements, or DuckDB rejected it (the message gives DuckDB\'s reason).',
    retryable: false,
  },
  'INLET-D006': {
    area: 'destination',
    title: 'Running inlet run did not answer',
    description: 'A running `inlet run` holds the destination and serves `inlet status` and `inlet query` on a local socket beside the file, but it did not answer (it may be stopping, or be an older version without the socket). Try again, or stop it to read the file directly.',
    retryable: true,
  },
  'INLET-D007': {
    area: 'destination',
    title: 'Object storage request failed',
    description: 'A request to the S3 bucket of an Iceberg destination failed: the bucket does not exist, the credentials are missing or refused, the endpoint cannot be reached, or the server answered an error. The batch was not confirmed to the source, so rerunning after the fix loses nothing. Credentials come from the usual AWS variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_PROFILE`) and are never printed.',
    retryable: true,
  },
  'INLET-D008': {
    area: 'destination',
    title: 'Iceberg catalog commit failed',
    description: 'The JDBC catalog (the `iceberg_tables` table in PostgreSQL) could not be reached or refused a commit: another writer changed a table since Inlet last committed it (the compare-and-set on `metadata_location` failed), or the role lacks rights on the catalog schema. Nothing of the batch became visible and nothing was confirmed to the source.',
    retryable: true,
  },
  'INLET-X001': {
    area: 'internal',
    title: 'Internal error',
    description: 'Something Inlet did not expect. Please report it with the output of the command run with `INLET_DEBUG=1`.',
    retryable: false,
  },
} as const satisfies Record<string, ErrorSpec>

export type ErrorCode = keyof typeof ERROR_CODES

/** Exit status of the CLI for an error of this code: 2 for bad config or no connection, else 1. */
export function exitCodeFor(code: ErrorCode): number {
  const area = ERROR_CODES[code].area
  return area === 'config' || area === 'connection' ? 2 : 1
}
