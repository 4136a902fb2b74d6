/**
 * `inlet ui`: the dashboard of a destination, whether or not a run holds it: through the run's
 * local socket while one does (refresh works then), read-only from the file otherwise.
 */
import { loadConfig } from '../../config/load.js'
import { destinationData } from '../../observability/dashboard/dashboard-data.js'
import { serveDashboard } from '../../observability/dashboard/dashboard-server.js'
import { createLogger } from '../../observability/log.js'
import { COMMON_HELP, CONFIG_OPTIONS, configFlags, parseCommandArgs, parseListen } from '../args.js'
import { out } from '../terminal.js'

export const UI_HELP = `inlet ui: the live dashboard of a destination, with or without a run

Serves the page that inlet run --ui serves: per source its phase, checkpoint, lag and the slot's
retained WAL as charts over the last minutes; per table its phase, rows, copy progress, column
mapping and schema changes; doctor's findings with their fix; a read-only SQL box. While an
inlet run holds the destination, the page shows that run's live figures through its local
socket (run inlet ui as the same user) and can ask it to refresh a table; otherwise it reads the
destination read-only. Stops on Ctrl-C.

  --port [HOST:]PORT     where to listen (default 127.0.0.1:8642; port 0 picks a free one). The
                         address printed at start carries a random access token that guards
                         every page; 0.0.0.0:PORT serves other hosts too (the token still guards)
${COMMON_HELP}`

export async function uiCommand(args: readonly string[]): Promise<number> {
  const { values } = parseCommandArgs('ui', args, { ...CONFIG_OPTIONS, port: { type: 'string' } })
  if (values.help === true) {
    out(UI_HELP)
    return 0
  }
  const listen = parseListen('--port', String(values.port ?? '8642'))
  const config = loadConfig(configFlags(values), process.env, { sourcesOptional: true })
  const log = createLogger(values.json === true ? { json: true } : {})
  const dashboard = await serveDashboard({ ...listen, data: destinationData(config), log })
  await new Promise<void>((resolveStop) => {
    const stop = () => resolveStop()
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
  })
  await dashboard.close()
  return 0
}
