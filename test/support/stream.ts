/**
 * Helpers to read a real replication stream in tests: open a slot, collect whole transactions,
 * and summarise events into plain values for exact comparison.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { EmbeddedPostgres } from '../../src/embedded/postgres-server.js'
import { parseConnectionString } from '../../src/postgres/connection-settings.js'
import { UNCHANGED_TOAST, type TupleValue } from '../../src/protocol/pgoutput/messages.js'
import type { Lsn } from '../../src/protocol/lsn.js'
import { ReplicationConnection, type StreamOptions } from '../../src/source/stream/replication-connection.js'
import type { ReplicationStream } from '../../src/source/stream/replication-stream.js'
import type { StreamEvent } from '../../src/source/stream/stream-events.js'

export async function openStream(server: EmbeddedPostgres, database: string, options: Partial<StreamOptions> & { slot: string; publications: string[] }): Promise<ReplicationStream> {
  const connection = await ReplicationConnection.open(parseConnectionString(server.url(database), {}))
  return connection.startStreaming({ resumeLsn: 0n, spoolDirectory: mkdtempSync(join(tmpdir(), 'inlet-spool-test-')), ...options })
}

/** Reads until `count` commits arrived (or the timeout); returns the events, grouped by transaction. */
export async function readTransactions(stream: ReplicationStream, count: number, timeoutMs = 15_000): Promise<StreamEvent[][]> {
  const transactions: StreamEvent[][] = []
  let current: StreamEvent[] = []
  const deadline = Date.now() + timeoutMs
  while (transactions.length < count) {
    const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), Math.max(1, deadline - Date.now())).unref())
    const next = await Promise.race([stream.next(), timer])
    if (next === 'timeout') throw new Error(`timed out after ${transactions.length} of ${count} transactions (${current.length} events pending)`)
    if (next.done === true) break
    for (const event of next.value) {
      current.push(event)
      if (event.kind === 'commit' || (event.kind === 'message' && !event.transactional)) {
        transactions.push(current)
        current = []
      }
    }
  }
  return transactions
}

const value = (v: TupleValue): unknown => (v === UNCHANGED_TOAST ? '<unchanged>' : Buffer.isBuffer(v) ? `\\bin:${v.toString('hex')}` : v)

/** A stable, LSN-free picture of an event for deep equality. */
export function summarize(event: StreamEvent): unknown {
  switch (event.kind) {
    case 'begin':
      return event.streamed ? 'BEGIN (streamed)' : 'BEGIN'
    case 'commit':
      return 'COMMIT'
    case 'origin':
      return ['ORIGIN', event.name]
    case 'relation':
      return ['RELATION', `${event.relation.schema}.${event.relation.name}`, event.relation.replicaIdentity, event.relation.columns.map((c) => `${c.name}:${c.typeOid}${c.key ? ':key' : ''}`)]
    case 'type':
      return ['TYPE', `${event.type.schema}.${event.type.name}`]
    case 'insert':
      return ['I', event.relation.name, event.newTuple.map(value)]
    case 'update':
      return ['U', event.relation.name, event.oldKind ?? null, event.oldTuple?.map(value) ?? null, event.newTuple.map(value)]
    case 'delete':
      return ['D', event.relation.name, event.oldKind, event.oldTuple.map(value)]
    case 'truncate':
      return ['T', event.relations.map((r) => r.name), event.cascade, event.restartIdentity]
    case 'message':
      return ['M', event.transactional, event.prefix, event.content.toString()]
  }
}

export function lastCommitEnd(transactions: StreamEvent[][]): Lsn {
  const commits = transactions.flat().filter((e): e is StreamEvent & { kind: 'commit' } => e.kind === 'commit')
  const last = commits[commits.length - 1]
  if (last === undefined) throw new Error('no commit')
  return last.endLsn
}
