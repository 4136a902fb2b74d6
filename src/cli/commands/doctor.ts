import { loadConfig } from '../../config/load.js'
import { runDoctor } from '../../source/preflight/doctor.js'
import { COMMON_HELP, CONFIG_OPTIONS, configFlags, parseCommandArgs } from '../args.js'
import { renderDoctorReport } from '../render/doctor-report.js'
import { out } from '../terminal.js'

export const DOCTOR_HELP = `inlet doctor: check every prerequisite of each source database

Prints one finding per check (ok, info, warn, fail) with a stable code and the exact SQL or
setting that fixes it for the detected platform (self-managed, RDS/Aurora, Cloud SQL, Azure).
Short lines by default, failing findings first; --verbose adds each finding's explanation and
the fix for notes too. Exit status: 0 nothing fails, 1 a check fails, 2 a source could not be
checked.

  --verbose              explain every finding

${COMMON_HELP}`

export async function doctorCommand(args: readonly string[]): Promise<number> {
  const { values } = parseCommandArgs('doctor', args, { ...CONFIG_OPTIONS, verbose: { type: 'boolean', short: 'v' } })
  if (values.help === true) {
    out(DOCTOR_HELP)
    return 0
  }
  const report = await runDoctor(loadConfig(configFlags(values)))
  out(values.json === true ? JSON.stringify(report, null, 2) : renderDoctorReport(report, { verbose: values.verbose === true }))
  return report.exitCode
}
