/**
 * The questions of `inlet init`. On a terminal each one is asked, with its default in brackets;
 * with --yes (or a flag that answers it) nothing is asked and a bad answer is an error, so a
 * script gets the same checks a person does.
 */
import { createInterface } from 'node:readline'
import { InletError } from '../../errors/inlet-error.js'
import { dim, err, yellow } from '../terminal.js'

/** Returns what is wrong with an answer, or undefined when it is good. */
export type Validate = (answer: string) => string | undefined

export interface Prompter {
  readonly interactive: boolean
  /** The flag's value when given, else the answer (empty: the default). */
  ask(question: string, options: { readonly given?: string | undefined; readonly fallback: string; readonly validate?: Validate; readonly flag?: string }): Promise<string>
  confirm(question: string, options: { readonly given?: boolean | undefined; readonly fallback: boolean }): Promise<boolean>
  /** A password, never echoed; asked twice. */
  secret(question: string): Promise<string>
  /** A password for an existing account, never echoed; asked once. */
  secretOnce(question: string): Promise<string>
}

export function createPrompter(interactive: boolean): Prompter {
  return {
    interactive,
    async ask(question, { given, fallback, validate, flag }) {
      if (given !== undefined || !interactive) {
        const answer = given ?? fallback
        const problem = validate?.(answer)
        if (problem !== undefined) {
          throw new InletError('INLET-C004', `${flag === undefined ? question : `--${flag}`}: ${problem}`, { fix: 'inlet init --help' })
        }
        return answer
      }
      for (;;) {
        const raw = (await readLine(`${question}${fallback === '' ? '' : ` ${dim(`[${fallback}]`)}`}: `)).trim()
        const answer = raw === '' ? fallback : raw
        const problem = validate?.(answer)
        if (problem === undefined) return answer
        err(yellow(`  ${problem}`))
      }
    },
    async confirm(question, { given, fallback }) {
      if (given !== undefined) return given
      if (!interactive) return fallback
      for (;;) {
        const raw = (await readLine(`${question} ${dim(fallback ? '[Y/n]' : '[y/N]')}: `)).trim().toLowerCase()
        if (raw === '') return fallback
        if (raw === 'y' || raw === 'yes') return true
        if (raw === 'n' || raw === 'no') return false
        err(yellow('  Answer y or n.'))
      }
    },
    async secret(question) {
      if (!interactive) throw new Error('secret() needs a terminal')
      for (;;) {
        const first = await readLine(question, true)
        const second = await readLine('Repeat it: ', true)
        if (first !== '' && first === second) return first
        err(yellow(first === '' ? '  The password is empty.' : '  The two passwords differ; once more.'))
      }
    },
    async secretOnce(question) {
      if (!interactive) throw new Error('secretOnce() needs a terminal')
      return readLine(question, true)
    },
  }
}

/** One line from the terminal; Ctrl-C or end of input cancels init (INLET-U006). */
function readLine(question: string, hidden = false): Promise<string> {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true })
    let answered = false
    const cancel = () => {
      if (answered) return
      answered = true
      rl.close()
      process.stderr.write('\n')
      reject(new InletError('INLET-U006', 'inlet init was cancelled at a question.', { fix: 'Run inlet init again: steps already applied are found done.' }))
    }
    rl.on('SIGINT', cancel)
    rl.on('close', cancel)
    rl.question(question, (answer) => {
      answered = true
      rl.close()
      if (hidden) process.stderr.write('\n')
      resolve(answer)
    })
    // Echo nothing typed after the question itself.
    if (hidden) (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = () => undefined
  })
}
