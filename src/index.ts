/**
 * Inlet as a library: the same operations the CLI runs, with explicit named exports only.
 */
export { loadConfig, resolveConfig, type ConfigFlags, type ResolvedConfig, type ResolvedSource } from './config/load.js'
export { ERROR_CODES, type ErrorCode } from './errors/codes.js'
export { InletError } from './errors/inlet-error.js'
export { parseConnectionString, describeConnection, redactSecrets, type ConnectionSettings, type SslMode } from './postgres/connection-settings.js'
export { formatLsn, parseLsn, ZERO_LSN, type Lsn } from './protocol/lsn.js'
export { PgoutputDecoder } from './protocol/pgoutput/decode.js'
export { UNCHANGED_TOAST, type PgoutputMessage, type TupleValue } from './protocol/pgoutput/messages.js'
export { ProtocolError, ProtocolOrderError } from './protocol/protocol-error.js'
export { runDoctor, type DoctorReport, type SourceReport } from './source/preflight/doctor.js'
export { FINDING_CODES, type Finding, type FindingCode, type FindingLevel } from './source/preflight/finding.js'
export { runSetup, renderSetupScript, type SourceSetup } from './source/setup/setup.js'
export { runTeardown, listSlots, dropSlotByName } from './source/teardown.js'
export { ReplicationConnection, type StreamOptions, type CreatedSlot, type SystemIdentity } from './source/stream/replication-connection.js'
export type { ReplicationStream, StreamTuning } from './source/stream/replication-stream.js'
export type { StreamEvent, Relation, UserType } from './source/stream/stream-events.js'
export { EmbeddedPostgres } from './embedded/postgres-server.js'
