/**
 * What `inlet setup --apply` (and `inlet init`) did per source: one line per step, applied, done
 * already, or left to do by hand with the instructions.
 */
import type { SourceSetup } from '../../source/setup/setup.js'
import { bold, dim, green, yellow } from '../terminal.js'

export function renderSetupOutcomes(result: SourceSetup): string {
  const lines = [bold(`Source ${result.source}  ${dim(result.target)}`)]
  for (const o of result.outcomes) {
    const label = o.outcome === 'applied' ? green('applied ') : o.outcome === 'manual' ? yellow('by hand ') : dim('ok      ')
    lines.push(`  ${label} ${o.title}`)
    if (o.outcome === 'manual' && o.note !== undefined) for (const line of o.note.split('\n')) lines.push(`           ${line}`)
  }
  const changed = result.outcomes.some((o) => o.outcome === 'applied')
  lines.push(changed ? '' : `  ${dim('Nothing to change: every step was already done.')}\n`)
  return lines.join('\n')
}
