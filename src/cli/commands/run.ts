import { loadConfig } from '../../config/load.js'
import { InletError } from '../../errors/inlet-error.js'
import { createLogger } from '../../observability/log.js'
import { runPipeline } from '../../pipeline/run-pipeline.js'
import { serveRun } from '../../observability/run-api.js'
import { COMMON_HELP, CONFIG_OPTIONS, configFlags, parseCommandArgs, parseListen } from '../args.js'
import { out } from '../terminal.js'
import type { CliContext } from '../context.js'
import { formatLsn } from '../../protocol/lsn.js'

export const RUN_HELP = `inlet run: copy the selected tables, then stream every change into the destination

Takes a consistent snapshot of tables not yet copied (parallel COPY under the replication slot's
exported snapshot), then applies changes from the slot in batches of whole transactions: each
batch and its checkpoint commit together in DuckDB before the slot is told, so a crash or kill
never loses or repeats a change. Runs until Ctrl-C / SIGTERM (which finish the current batch and
exit 0), or with --once until caught up with the WAL position current when streaming began.

  --once                 stop once caught up (for schedulers and scripts); stopped by
                         Ctrl-C / SIGTERM before that, it exits 3: run it again
  --workers N            parallel COPY connections for the snapshot (default 2)
  --resync               the slot was lost (INLET-S006): recreate it and copy every table again,
                         each readable until its new copy replaces it
  --takeover             the slot is held by a previous inlet run (INLET-S002): end that
                         connection (only one whose application_name is Inlet's) and go on
  --destination URL      where tables land: duckdb:PATH (default duckdb:./inlet.duckdb),
                         iceberg:file:///PATH (Iceberg v2 tables under PATH) or
                         iceberg:s3://BUCKET/PREFIX?catalog=postgresql://USER@HOST/DB (Iceberg
                         tables on S3, committed through the JDBC catalog in that database)
  --scd 1|2              SCD type of every table without its own (default 1: a mirror)
  --metrics-port [HOST:]PORT  serve Prometheus metrics at /metrics and a health check at
                         /healthz (default host 127.0.0.1; 0.0.0.0:PORT for a remote scraper)
  --ui [HOST:]PORT       serve the live dashboard (default host 127.0.0.1; port 0 picks a free
                         one); the address it prints carries a random access token
${COMMON_HELP}

Several sources in the config stream side by side into the one destination, each into a schema
of its own (see destination_schema in docs/configuration.md). While the run holds the file it
answers inlet status and inlet query on a socket beside it (only its owner can connect).

Logs go to stderr: short lines on a terminal, JSON lines otherwise (--json forces JSON).`

/** `inlet run --once` stopped by SIGINT/SIGTERM before it caught up. */
export const INTERRUPTED_EXIT = 3

export async function runCommand(args: readonly string[], context: CliContext = {}): Promise<number> {
  const { values } = parseCommandArgs('run', args, { ...CONFIG_OPTIONS, once: { type: 'boolean' }, workers: { type: 'string' }, resync: { type: 'boolean' }, takeover: { type: 'boolean' }, 'metrics-port': { type: 'string' }, ui: { type: 'string' } })
  if (values.help === true) {
    out(RUN_HELP)
    return 0
  }
  const workers = values.workers === undefined ? 2 : Number(values.workers)
  if (!Number.isInteger(workers) || workers < 1 || workers > 64) throw new InletError('INLET-C004', `--workers must be a whole number from 1 to 64, not "${String(values.workers)}".`)
  const metrics = values['metrics-port'] === undefined ? undefined : parseListen('--metrics-port', String(values['metrics-port']))
  const ui = values.ui === undefined ? undefined : parseListen('--ui', String(values.ui))
  const config = loadConfig(configFlags(values))
  const log = createLogger(values.json === true ? { json: true } : {})
  const controller = new AbortController()
  let signals = 0
  const onSignal = (signal: NodeJS.Signals) => {
    signals++
    if (signals > 1) process.exit(130)
    log.info('signal', `${signal}: finishing the current batch, then stopping.`)
    controller.abort()
    // The batch in flight commits or rolls back within seconds; never hang past 10 s (a copy
    // under way is left to resume: for --once that is a stop before it caught up too).
    setTimeout(() => {
      if (values.once === true) log.warn('run.interrupted', 'Stopped by a signal before catching up (a table copy under way starts again on the next run). Run it again to finish.')
      process.exit(values.once === true ? INTERRUPTED_EXIT : 1)
    }, 10_000).unref()
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  try {
    const result = await runPipeline({
      config,
      once: values.once === true,
      resync: values.resync === true,
      takeover: values.takeover === true,
      signal: controller.signal,
      snapshotWorkers: workers,
      log,
      serve: (destination, monitor) => serveRun(config, destination, monitor, { metrics, ui, log }),
      ...(context.wrapDestination === undefined ? {} : { wrapDestination: context.wrapDestination }),
    })
    const { checkpoints, ...totals } = result
    const summary = `${result.snapshotRows} rows copied, ${result.transactions} transactions and ${result.changes} changes applied.`
    const fields = { ...totals, checkpoint: checkpoints.map((c) => `${c.source}:${formatLsn(c.checkpoint)}`).join(' ') }
    // A scheduler must tell a finished --once from one a signal cut short (what it did is kept).
    if (values.once === true && controller.signal.aborted) {
      log.warn('run.interrupted', `Stopped by a signal before catching up: ${summary} Run it again to finish.`, fields)
      return INTERRUPTED_EXIT
    }
    log.info('run.done', `Done: ${summary}`, fields)
    return 0
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}
