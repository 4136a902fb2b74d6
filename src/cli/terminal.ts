/**
 * Terminal helpers for the CLI: colour only on a TTY (and never with NO_COLOR), and a hidden
 * prompt for passwords. The library never writes to the terminal; only cli/ does.
 */
import { createInterface } from 'node:readline'

export const useColor = process.stdout.isTTY === true && process.env.NO_COLOR === undefined

const paint = (code: number) => (text: string) => (useColor ? `\u001b[${code}m${text}\u001b[0m` : text)
export const red = paint(31)
export const green = paint(32)
export const yellow = paint(33)
export const cyan = paint(36)
export const dim = paint(2)
export const bold = paint(1)

export function out(text = ''): void {
  process.stdout.write(`${text}\n`)
}

export function err(text = ''): void {
  process.stderr.write(`${text}\n`)
}

/** Reads a line without echoing it (for passwords). */
export function promptHidden(question: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true })
    const output = rl as unknown as { _writeToOutput: (s: string) => void }
    rl.question(question, (answer) => {
      rl.close()
      process.stderr.write('\n')
      resolve(answer)
    })
    // Echo nothing after the question itself.
    output._writeToOutput = () => undefined
    rl.on('SIGINT', () => {
      rl.close()
      reject(new Error('cancelled'))
    })
  })
}

export function promptLine(question: string): Promise<string> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr })
    rl.question(question, (answer) => {
      rl.close()
      resolve(answer)
    })
  })
}
