import { loadConfig } from '../../config/load.js'
import { InletError } from '../../errors/inlet-error.js'
import { formatBytes } from '../../source/preflight/check-context.js'
import { dropSlotByName, listSlots } from '../../source/teardown.js'
import { COMMON_HELP, CONFIG_OPTIONS, configFlags, parseCommandArgs } from '../args.js'
import { bold, dim, out } from '../terminal.js'

export const SLOTS_HELP = `inlet slots list | inlet slots drop NAME

list: every replication slot on each source's server, with its database, plugin, holder,
      retained WAL and wal_status: a forgotten slot keeps WAL until the disk is full.
drop: drops one slot by name (refused while a process holds it).

${COMMON_HELP}`

export async function slotsCommand(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('slots', args, CONFIG_OPTIONS)
  const [action, name, ...rest] = positionals
  if (values.help === true || action === undefined) {
    out(SLOTS_HELP)
    return values.help === true ? 0 : 2
  }
  const config = loadConfig(configFlags(values))
  if (action === 'list' && name === undefined) {
    const servers = await listSlots(config)
    if (values.json === true) {
      out(JSON.stringify(servers, null, 2))
      return 0
    }
    for (const { server, slots } of servers) {
      out(bold(`Server ${server}: ${slots.length} slot(s)`))
      for (const s of slots) {
        const holder = s.active ? `active, PID ${s.activePid} (${s.activeApplication ?? '?'})` : 'inactive'
        out(`  ${s.name}  ${dim(`${s.slotType}${s.plugin === null ? '' : ` ${s.plugin}`}, db ${s.database ?? '-'}, ${holder}, retains ${s.retainedBytes === null ? 'n/a' : formatBytes(s.retainedBytes)}, wal_status ${s.walStatus ?? '-'}`)}`)
      }
    }
    return 0
  }
  if (action === 'drop' && name !== undefined && rest.length === 0) {
    const { server } = await dropSlotByName(config, name)
    out(`Dropped replication slot ${name} on ${server}.`)
    return 0
  }
  throw new InletError('INLET-C004', `inlet slots: expected "list" or "drop NAME", got "${positionals.join(' ')}".`, { fix: 'inlet slots --help' })
}
