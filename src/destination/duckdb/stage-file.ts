/**
 * Writes a segment's staging rows as a CSV file that DuckDB's native (parallel) CSV reader loads
 * into the staging table. Measured against the DataChunk appender, which crosses into native code
 * once per string value: building the text in JavaScript and letting DuckDB parse it is about 3x
 * cheaper on the JavaScript thread (1.2 against 3.6 µs a row of eight columns), which is the thread the decoder also needs.
 *
 * The dialect is the one PostgreSQL's COPY ... CSV FORCE_QUOTE * writes for the snapshot, so one
 * reader definition serves both: values quoted (an empty string is `""`), NULL an empty unquoted
 * field, quotes doubled inside values. Values of types whose text form needs no quoting (numbers,
 * dates and times, uuid...; `ColumnType.bare`) are written as they are.
 */
import { closeSync, openSync, writeSync } from 'node:fs'
import type { StageRow } from '../../model/change-set.js'
import type { TableTarget } from '../../model/table-binding.js'
import { sqlType } from './column-types.js'
import { literal } from './sql-session.js'

const MB = 1024 * 1024

// Small chunks: V8 flattens short concatenations cheaply; measured fastest around 64 K.
const FLUSH_CHARS = 64 * 1024

function field(value: string | null): string {
  if (value === null) return ''
  return value.indexOf('"') < 0 ? `"${value}"` : `"${value.replaceAll('"', '""')}"`
}

/**
 * One line per row: the values, then the meta columns of `stageMetaColumns` (op, toast, lookup
 * keys, lsn, ts, end_ts, first, n, grp, and part where the table records partitions); `first` is
 * '1' or NULL. With `keysPath`, the key values
 * of every row also go to a second file (columns named like the key's value columns), so that the
 * DELETE of a keyed upsert parses a few bytes a row instead of the whole row.
 */
export function writeStageFile(path: string, target: TableTarget, rows: readonly StageRow[], keysPath?: string): { longestLine: number } {
  const bare = target.columns.map((c) => sqlType(c).bare)
  const keyCount = target.key.length
  const partitioned = target.partitionColumn === true
  const fd = openSync(path, 'w')
  const keysFd = keysPath === undefined ? undefined : openSync(keysPath, 'w')
  try {
    let chunk = ''
    let keys = ''
    let longest = 0
    for (const row of rows) {
      const start = chunk.length
      const values = row.values
      for (let i = 0; i < values.length; i++) {
        const v = values[i] as string | null
        chunk += bare[i] === true ? `${v ?? ''},` : `${field(v)},`
      }
      chunk += `${row.op},${field(row.toast)},`
      for (let j = 0; j < keyCount; j++) chunk += `${field(row.lookup?.[j] ?? null)},`
      chunk += `${row.lsn ?? ''},${field(row.ts)},${field(row.end)},${row.first ? '1' : ''},${row.n},${row.group}${partitioned ? `,${row.part ?? ''}` : ''}\n`
      if (chunk.length - start > longest) longest = chunk.length - start
      if (chunk.length > FLUSH_CHARS) {
        writeSync(fd, chunk)
        chunk = ''
      }
      if (keysFd !== undefined) {
        for (let j = 0; j < keyCount; j++) {
          const i = target.key[j] as number
          const v = values[i] as string | null
          keys += `${j > 0 ? ',' : ''}${bare[i] === true ? (v ?? '') : field(v)}`
        }
        keys += '\n'
        if (keys.length > FLUSH_CHARS) {
          writeSync(keysFd, keys)
          keys = ''
        }
      }
    }
    if (chunk.length > 0) writeSync(fd, chunk)
    if (keysFd !== undefined && keys.length > 0) writeSync(keysFd, keys)
    // UTF-8 takes at most 3 bytes per UTF-16 unit.
    return { longestLine: longest * 3 }
  } finally {
    closeSync(fd)
    if (keysFd !== undefined) closeSync(keysFd)
  }
}

/**
 * DuckDB's reader for the CSV dialect of COPY ... CSV FORCE_QUOTE * (snapshot) and stage-file.ts.
 * Its buffer must hold the longest line (`longestLine` bytes): sized to it, not to the largest
 * value PostgreSQL allows, so that it fits the destination's memory share.
 */
export function csvSource(files: string | readonly string[], names: readonly string[], longestLine = 0): string {
  const maxLine = Math.max(2 * MB, longestLine + 1024)
  // (Each reading thread holds a buffer: 4 MB read 1.2x slower than 16 MB, for 25 MB less memory.)
  const buffer = Math.max(4 * MB, 2 * maxLine)
  const columns = names.map((n) => `'${n}': 'VARCHAR'`).join(', ')
  const paths = typeof files === 'string' ? literal(files) : `[${files.map(literal).join(', ')}]`
  return (
    `read_csv(${paths}, columns = {${columns}}, header = false, auto_detect = false, delim = ',', quote = '"', escape = '"', ` +
    `allow_quoted_nulls = false, new_line = '\\n', max_line_size = ${maxLine}, buffer_size = ${buffer})`
  )
}
