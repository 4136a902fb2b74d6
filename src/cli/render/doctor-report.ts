/**
 * Doctor report for people: one line per finding, its fix indented below. JSON callers get the
 * report object as it is.
 */
import type { DoctorReport } from '../../source/preflight/doctor.js'
import type { FindingLevel } from '../../source/preflight/finding.js'
import { bold, cyan, dim, green, red, yellow } from '../terminal.js'

const LABEL: Record<FindingLevel, string> = { ok: green('ok  '), info: cyan('info'), warn: yellow('warn'), fail: red('FAIL') }

export function renderDoctorReport(report: DoctorReport): string {
  const lines: string[] = []
  for (const source of report.sources) {
    lines.push(bold(`Source ${source.source}  ${dim(source.target)}`))
    if (source.error !== undefined) {
      lines.push(`  ${red('could not check')} ${source.error.code}: ${source.error.message}`)
      if (source.error.cause !== undefined) lines.push(`  ${dim(`cause: ${source.error.cause}`)}`)
      if (source.error.fix !== undefined) lines.push(`  fix: ${source.error.fix}`)
      lines.push('')
      continue
    }
    const width = Math.max(...source.findings.map((f) => f.code.length))
    for (const f of source.findings) {
      lines.push(`  ${LABEL[f.level]}  ${f.code.padEnd(width)}  ${f.message}`)
      if (f.fix !== undefined && f.level !== 'ok') {
        lines.push(`        ${dim('fix:')}`)
        for (const line of f.fix.split('\n')) lines.push(`          ${line}`)
      }
    }
    const count = (level: FindingLevel) => source.findings.filter((f) => f.level === level).length
    lines.push(`  ${dim(`${count('fail')} failing, ${count('warn')} warnings, ${count('info')} notes, ${count('ok')} ok`)}`, '')
  }
  const verdict = report.exitCode === 0 ? green('Ready: nothing fails.') : report.exitCode === 1 ? red('Not ready: fix the failing checks above (inlet setup --apply does most of it).') : red('Some sources could not be checked.')
  lines.push(verdict)
  return lines.join('\n')
}
