/**
 * Doctor report for people. By default one short line per finding, the failing ones first and
 * the fix (SQL or setting) under each failure and warning; --verbose adds every explanation and
 * every fix. JSON callers get the report object as it is.
 */
import type { DoctorReport } from '../../source/preflight/doctor.js'
import type { FindingLevel } from '../../source/preflight/finding.js'
import { bold, cyan, dim, green, red, yellow } from '../terminal.js'

const LABEL: Record<FindingLevel, string> = { ok: green('ok  '), info: cyan('info'), warn: yellow('warn'), fail: red('FAIL') }
const ORDER: readonly FindingLevel[] = ['fail', 'warn', 'info', 'ok']
/** A short line fits a terminal of 100 columns with its label and code. */
const SHORT_WIDTH = 100

export function renderDoctorReport(report: DoctorReport, options: { readonly verbose?: boolean } = {}): string {
  const verbose = options.verbose === true
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
    const findings = [...source.findings].sort((a, b) => ORDER.indexOf(a.level) - ORDER.indexOf(b.level))
    const width = Math.max(...findings.map((f) => f.code.length))
    for (const f of findings) {
      const head = `  ${LABEL[f.level]}  ${f.code.padEnd(width)}  `
      lines.push(`${head}${verbose ? f.message : shorten(f.message, Math.max(40, SHORT_WIDTH - 10 - width))}`)
      const showFix = f.fix !== undefined && (verbose ? f.level !== 'ok' : f.level === 'fail' || f.level === 'warn')
      if (showFix) {
        lines.push(`        ${dim('fix:')}`)
        for (const line of (f.fix ?? '').split('\n')) lines.push(`          ${line}`)
      }
    }
    const count = (level: FindingLevel) => source.findings.filter((f) => f.level === level).length
    lines.push(`  ${dim(`${count('fail')} failing, ${count('warn')} warnings, ${count('info')} notes, ${count('ok')} ok`)}`, '')
  }
  const verdict = report.exitCode === 0 ? green('Ready: nothing fails.') : report.exitCode === 1 ? red('Not ready: fix the failing checks above (inlet setup --apply does most of it).') : red('Some sources could not be checked.')
  lines.push(verdict)
  if (!verbose && report.sources.some((s) => s.findings.length > 0)) lines.push(dim('inlet doctor --verbose explains each finding; docs/doctor.md lists every code.'))
  return lines.join('\n')
}

/** The message's first sentence, cut to `max` characters. */
export function shorten(message: string, max: number): string {
  const sentence = /^.*?[.!?](?=\s|$)/s.exec(message)?.[0] ?? message
  const one = sentence.replace(/\s+/g, ' ')
  return one.length <= max ? one : `${one.slice(0, max - 1).trimEnd()}…`
}

