/**
 * Log sequence numbers: a 64-bit position in the WAL. Inside Inlet an LSN is a `bigint`; the text
 * form `X/Y` (high and low 32 bits in hex, no leading zeros) appears only at the edges.
 */
export type Lsn = bigint

export const ZERO_LSN: Lsn = 0n

const MAX_LSN = 0xffff_ffff_ffff_ffffn

export function parseLsn(text: string): Lsn {
  const match = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text.trim())
  if (match === null) throw new Error(`"${text}" is not an LSN (expected X/Y in hex)`)
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`)
}

export function formatLsn(lsn: Lsn): string {
  if (lsn < 0n || lsn > MAX_LSN) throw new Error(`LSN out of range: ${lsn}`)
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffff_ffffn).toString(16).toUpperCase()}`
}

export function maxLsn(a: Lsn, b: Lsn): Lsn {
  return a > b ? a : b
}
