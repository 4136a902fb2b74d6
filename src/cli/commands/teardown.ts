import { loadConfig } from '../../config/load.js'
import { InletError } from '../../errors/inlet-error.js'
import { runTeardown } from '../../source/teardown.js'
import { COMMON_HELP, CONFIG_OPTIONS, configFlags, parseCommandArgs } from '../args.js'
import { bold, dim, out, promptLine } from '../terminal.js'

export const TEARDOWN_HELP = `inlet teardown: drop what setup created on each source database

Drops the replication slot (only when no process holds it), the DDL tracking objects and the
publication. The replication user and its grants are kept. Asks for confirmation on a terminal;
elsewhere pass --yes.

  --yes                  do not ask
  --admin URL            connection that drops (default: the source connection)
${COMMON_HELP}`

export async function teardownCommand(args: readonly string[]): Promise<number> {
  const { values } = parseCommandArgs('teardown', args, { ...CONFIG_OPTIONS, yes: { type: 'boolean' }, admin: { type: 'string' } })
  if (values.help === true) {
    out(TEARDOWN_HELP)
    return 0
  }
  const config = loadConfig(configFlags(values))
  if (values.yes !== true) {
    const preview = await runTeardown(config, { execute: false })
    for (const r of preview) out(`${r.source}: would drop ${r.items.filter((i) => i.outcome === 'would drop').map((i) => i.what).join(', ') || 'nothing'}`)
    if (process.stdin.isTTY !== true) {
      throw new InletError('INLET-U003', 'teardown drops objects on the source; refusing without --yes.', { fix: 'inlet teardown --yes' })
    }
    const answer = await promptLine('Drop these? Type yes: ')
    if (answer.trim() !== 'yes') {
      out('Nothing dropped.')
      return 1
    }
  }
  const results = await runTeardown(config, { execute: true })
  if (values.json === true) {
    out(JSON.stringify(results, null, 2))
    return 0
  }
  for (const r of results) {
    out(bold(`Source ${r.source}  ${dim(r.target)}`))
    for (const item of r.items) out(`  ${item.outcome === 'dropped' ? 'dropped' : dim('absent ')}  ${item.what}`)
  }
  return 0
}
