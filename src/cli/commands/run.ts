import { loadConfig } from '../../config/load.js'
import { InletError } from '../../errors/inlet-error.js'
import { createLogger } from '../../observability/log.js'
import { runPipeline } from '../../pipeline/run-pipeline.js'
import { COMMON_HELP, CONFIG_OPTIONS, configFlags, parseCommandArgs } from '../args.js'
import { out } from '../terminal.js'

export const RUN_HELP = `inlet run: copy the selected tables, then stream every change into the destination

Takes a consistent snapshot of tables not yet copied (parallel COPY under the replication slot's
exported snapshot), then applies changes from the slot in batches of whole transactions: each
batch and its checkpoint commit together in DuckDB before the slot is told, so a crash or kill
never loses or repeats a change. Runs until Ctrl-C / SIGTERM (which finish the current batch and
exit 0), or with --once until caught up with the WAL position current when streaming began.

  --once                 stop once caught up (for schedulers and scripts)
  --workers N            parallel COPY connections for the snapshot (default 2)
  --resync               the slot was lost (INLET-S006): recreate it and copy every table again,
                         each readable until its new copy replaces it
  --takeover             the slot is held by a previous inlet run (INLET-S002): end that
                         connection (only one whose application_name is Inlet's) and go on
  --destination duckdb:PATH   where tables land (default: duckdb:./inlet.duckdb)
  --scd 1|2              SCD type of every table without its own (default 1: a mirror)
${COMMON_HELP}

Logs go to stderr: short lines on a terminal, JSON lines otherwise (--json forces JSON).`

export async function runCommand(args: readonly string[]): Promise<number> {
  const { values } = parseCommandArgs('run', args, { ...CONFIG_OPTIONS, once: { type: 'boolean' }, workers: { type: 'string' }, resync: { type: 'boolean' }, takeover: { type: 'boolean' } })
  if (values.help === true) {
    out(RUN_HELP)
    return 0
  }
  const workers = values.workers === undefined ? 2 : Number(values.workers)
  if (!Number.isInteger(workers) || workers < 1 || workers > 64) throw new InletError('INLET-C004', `--workers must be a whole number from 1 to 64, not "${String(values.workers)}".`)
  const config = loadConfig(configFlags(values))
  const log = createLogger(values.json === true ? { json: true } : {})
  const controller = new AbortController()
  let signals = 0
  const onSignal = (signal: NodeJS.Signals) => {
    signals++
    if (signals > 1) process.exit(130)
    log.info('signal', `${signal}: finishing the current batch, then stopping.`)
    controller.abort()
    // The batch in flight commits or rolls back within seconds; never hang past 10 s.
    setTimeout(() => process.exit(1), 10_000).unref()
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  try {
    const result = await runPipeline({ config, once: values.once === true, resync: values.resync === true, takeover: values.takeover === true, signal: controller.signal, snapshotWorkers: workers, log })
    log.info('run.done', `Done: ${result.snapshotRows} rows copied, ${result.transactions} transactions and ${result.changes} changes applied.`, { ...result, checkpoint: result.checkpoint.toString() })
    return 0
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}
