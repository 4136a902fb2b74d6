/**
 * `inlet doctor`: connect to each source, gather facts, evaluate. A source that cannot be reached
 * gets an error instead of findings; the exit status says which happened.
 */
import type { ResolvedConfig, ResolvedSource } from '../../config/load.js'
import { InletError, isInletError, causeText } from '../../errors/inlet-error.js'
import { connect } from '../../postgres/connect.js'
import { describeConnection } from '../../postgres/connection-settings.js'
import { selectTables } from '../selection.js'
import { evaluate } from './evaluate.js'
import type { SourceFacts } from './facts.js'
import { worstLevel, type Finding } from './finding.js'
import { inspectSource } from './inspect.js'

export interface SourceReport {
  readonly source: string
  readonly target: string
  readonly findings: readonly Finding[]
  /** Set when the source could not be checked at all. */
  readonly error?: { readonly code: string; readonly message: string; readonly cause?: string; readonly fix?: string }
}

export interface DoctorReport {
  readonly sources: readonly SourceReport[]
  /** 0: nothing fails; 1: a check fails; 2: a source could not be checked. */
  readonly exitCode: 0 | 1 | 2
}

export async function runDoctor(config: ResolvedConfig): Promise<DoctorReport> {
  const reports: SourceReport[] = []
  for (const source of config.sources) reports.push(await doctorSource(source, config))
  const exitCode = reports.some((r) => r.error !== undefined) ? 2 : reports.some((r) => worstLevel(r.findings) === 'fail') ? 1 : 0
  return { sources: reports, exitCode }
}

async function doctorSource(source: ResolvedSource, config: ResolvedConfig): Promise<SourceReport> {
  const target = describeConnection(source.connection)
  try {
    const client = await connect(source.connection)
    try {
      const facts = await inspectSource(client, source.connection, { publication: source.publication, role: source.connection.user }).catch((cause: unknown) => {
        throw new InletError('INLET-S001', `Reading the catalog of ${target} failed.`, { cause, fix: 'Connect as the replication user or a role that can read pg_catalog; inlet setup prints the grants.' })
      })
      return { source: source.name, target, findings: evaluateSource(facts, source, config) }
    } finally {
      await client.end().catch(() => undefined)
    }
  } catch (err) {
    if (!isInletError(err)) throw err
    const cause = causeText(err)
    return {
      source: source.name,
      target,
      findings: [],
      error: { code: err.code, message: err.message, ...(cause === undefined ? {} : { cause }), ...(err.fix === undefined ? {} : { fix: err.fix }) },
    }
  }
}

/** Evaluates one source's facts in the light of the whole config (slots of sibling sources). */
export function evaluateSource(facts: SourceFacts, source: ResolvedSource, config: ResolvedConfig): Finding[] {
  const sameServer = config.sources.filter((s) => s.connection.host === source.connection.host && s.connection.port === source.connection.port)
  const slotsToCreate = sameServer.filter((s) => !facts.slots.some((slot) => slot.name === s.slot)).length
  return evaluate({
    facts,
    // No publication yet: the tables the suggested FOR ALL TABLES would cover are checked.
    selection: selectTables(facts.tables, source.tables, facts.publication, true),
    patterns: source.tables,
    publication: source.publication,
    slot: source.slot,
    slotsToCreate,
    applicationName: source.connection.applicationName,
    failover: source.failover,
  })
}
