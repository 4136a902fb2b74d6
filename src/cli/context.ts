import type { RunOptions } from '../pipeline/run-pipeline.js'

/** What a caller of main() may change about a command's run (tests inject faults through it). */
export interface CliContext {
  /** Wraps the destination `inlet run` opens (see RunOptions.wrapDestination). */
  readonly wrapDestination?: RunOptions['wrapDestination']
}
