/**
 * A replication message that cannot be decoded. Carries the message tag and the byte offset where
 * decoding failed, so a report pinpoints the bytes.
 */
import { InletError } from '../errors/inlet-error.js'

export class ProtocolError extends InletError {
  readonly offset: number
  readonly tag: string

  constructor(tag: string, offset: number, problem: string) {
    super('INLET-P001', `Malformed ${tag} message at byte ${offset}: ${problem}.`, { details: { tag, offset } })
    this.name = 'ProtocolError'
    this.offset = offset
    this.tag = tag
  }
}

/** Well-formed messages in an order the protocol does not allow (a Commit without Begin, ...). */
export class ProtocolOrderError extends InletError {
  constructor(tag: string, problem: string) {
    super('INLET-P002', `Replication stream out of order at ${tag}: ${problem}.`, { details: { tag } })
    this.name = 'ProtocolOrderError'
  }
}
