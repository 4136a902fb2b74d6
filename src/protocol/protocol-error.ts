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
