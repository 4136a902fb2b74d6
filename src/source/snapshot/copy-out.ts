/**
 * `COPY ... TO STDOUT` through node-postgres. pg has no COPY API of its own, but it accepts any
 * object with `submit()` and the message handlers as a query (the way pg-copy-streams works); the
 * dozen lines below do the same without another dependency. Each CopyData message is one row.
 */
import type pg from 'pg'

type Connection = { query(text: string): void; stream: { pause(): void; resume(): void } }

export class CopyOut {
  private error: Error | undefined
  private rows = 0
  private settle!: { resolve: (rows: number) => void; reject: (e: Error) => void }
  readonly done: Promise<number>
  private connection: Connection | undefined

  constructor(
    private readonly text: string,
    /** Gets each row's bytes; the buffer may be reused after the call returns. */
    private readonly onRow: (row: Buffer) => void,
  ) {
    this.done = new Promise((resolve, reject) => (this.settle = { resolve, reject }))
  }

  /** Runs the COPY on the client; resolves with the row count the server reports. */
  static run(client: pg.Client, text: string, onRow: (row: Buffer) => void): CopyOut {
    const copy = new CopyOut(text, onRow)
    void client.query(copy as unknown as pg.QueryConfig)
    return copy
  }

  /** Stops reading the socket (backpressure); the server waits once the kernel buffers fill. */
  pause(): void {
    this.connection?.stream.pause()
  }

  resume(): void {
    this.connection?.stream.resume()
  }

  // ---- called by node-postgres ----
  submit(connection: Connection): void {
    this.connection = connection
    connection.query(this.text)
  }

  handleCopyData(message: { chunk: Buffer }): void {
    try {
      this.onRow(message.chunk)
    } catch (error) {
      this.error ??= error as Error
    }
  }

  handleCommandComplete(message: { text: string }): void {
    this.rows = Number(/^COPY (\d+)/.exec(message.text)?.[1] ?? 0)
  }

  handleError(error: Error): void {
    this.error ??= error
  }

  handleReadyForQuery(): void {
    if (this.error !== undefined) this.settle.reject(this.error)
    else this.settle.resolve(this.rows)
  }

  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}
  handleCopyInResponse(): void {
    this.error ??= new Error('unexpected COPY FROM')
  }
}
