/**
 * TupleData: Int16 column count, then per column a kind byte: 'n' NULL, 'u' unchanged TOAST,
 * 't' Int32 length + text, 'b' Int32 length + binary (typsend).
 */
import type { BufferReader } from '../buffer-reader.js'
import { UNCHANGED_TOAST, type TupleValue } from './messages.js'

export function readTuple(reader: BufferReader): TupleValue[] {
  const count = reader.int16('column count')
  if (count < 0) reader.fail(`negative column count ${count}`)
  const values = new Array<TupleValue>(count)
  for (let i = 0; i < count; i++) {
    const kind = reader.uint8('column kind')
    switch (kind) {
      case 0x6e /* n */:
        values[i] = null
        break
      case 0x75 /* u */:
        values[i] = UNCHANGED_TOAST
        break
      case 0x74 /* t */:
        values[i] = reader.text(reader.int32('text length'), 'text value')
        break
      case 0x62 /* b */:
        values[i] = reader.bytes(reader.int32('binary length'), 'binary value')
        break
      default:
        reader.offset--
        reader.fail(`unknown column kind 0x${kind.toString(16)} in column ${i}`)
    }
  }
  return values
}
