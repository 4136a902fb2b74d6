/**
 * What every check receives: the facts of one source plus the parts of the configuration that say
 * what Inlet will need from it.
 */
import type { TablePattern } from '../../config/table-pattern.js'
import type { Selection } from '../selection.js'
import type { SourceFacts } from './facts.js'
import type { Finding } from './finding.js'

export interface CheckContext {
  readonly facts: SourceFacts
  readonly selection: Selection
  readonly patterns: readonly TablePattern[] | undefined
  readonly publication: string
  readonly slot: string
  /** Slots configured on this server (all sources) that do not exist yet. */
  readonly slotsToCreate: number
  /** The application_name Inlet connects with. */
  readonly applicationName: string
  /** The config asks for a failover slot (PG17+). */
  readonly failover: boolean
}

export type Check = (ctx: CheckContext) => Finding[]

/** `1.5 GB`: sizes in findings are for people. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB']
  let value = bytes
  let unit = 0
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`
}
