/**
 * A real terminal for CLI tests: tmux runs the command in a detached session on its own server
 * socket; the test types with send-keys and reads the screen with capture-pane, as a person at a
 * terminal would see it.
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export function hasTmux(): boolean {
  try {
    execFileSync('tmux', ['-V'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`

export class TerminalSession {
  private readonly socket = `inlet-test-${randomBytes(4).toString('hex')}`

  private constructor() {}

  /** Starts `argv` in a 200x50 terminal; when it ends the pane shows `EXIT=<status>` and stays open. */
  static start(argv: readonly string[], cwd: string, env: Readonly<Record<string, string>>): TerminalSession {
    const session = new TerminalSession()
    const command = `env ${Object.entries(env).map(([k, v]) => `${k}=${shellQuote(v)}`).join(' ')} ${argv.map(shellQuote).join(' ')}; echo "EXIT=$?"; sleep 3600`
    // The scrollback of a pane is sized when it is made: set in the server's config, before it.
    const conf = join(mkdtempSync(join(tmpdir(), 'inlet-tmux-')), 'tmux.conf')
    writeFileSync(conf, 'set -g history-limit 50000\n')
    session.tmux('-f', conf, 'new-session', '-d', '-s', 'main', '-x', '200', '-y', '50', '-c', cwd, command)
    return session
  }

  private tmux(...args: string[]): string {
    return execFileSync('tmux', ['-L', this.socket, ...args], { encoding: 'utf8' })
  }

  /** Everything the terminal showed, scrollback included, wrapped lines joined. */
  screen(): string {
    return this.tmux('capture-pane', '-p', '-J', '-S', '-', '-t', 'main')
  }

  lastLine(screen = this.screen()): string {
    const lines = screen.split('\n').map((l) => l.trimEnd()).filter((l) => l !== '')
    return lines.at(-1) ?? ''
  }

  /** Waits until the last line on screen matches (a prompt waiting for its answer). */
  async waitForPrompt(pattern: RegExp, timeoutMs = 30_000): Promise<string> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const screen = this.screen()
      // One capture for the test and the answer: a second could show more than the first.
      if (pattern.test(this.lastLine(screen))) return screen
      if (Date.now() > deadline) throw new Error(`no prompt matching ${String(pattern)} within ${timeoutMs} ms; the screen shows:\n${screen.split('\n').filter((l) => l.trim() !== '').slice(-40).join('\n')}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }

  /** Types the text (literally) and presses Enter. */
  answer(text: string): void {
    if (text !== '') this.tmux('send-keys', '-t', 'main', '-l', text)
    this.tmux('send-keys', '-t', 'main', 'Enter')
  }

  /** Presses keys by tmux name (C-c, C-d). */
  keys(...names: string[]): void {
    this.tmux('send-keys', '-t', 'main', ...names)
  }

  kill(): void {
    try {
      this.tmux('kill-server')
    } catch {
      // Already gone.
    }
  }
}
