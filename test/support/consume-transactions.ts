/**
 * Child process for memory tests: streams a slot until `count` transactions have committed,
 * counting changes without keeping them, and prints one JSON line with its peak RSS.
 * argv: url slot publication count
 */
import { existsSync, mkdtempSync, readdirSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseConnectionString } from '../../src/postgres/connection-settings.js'
import { ReplicationConnection } from '../../src/source/stream/replication-connection.js'

const [url, slot, publication, countText] = process.argv.slice(2) as [string, string, string, string]
const spoolDirectory = mkdtempSync(join(tmpdir(), 'inlet-rss-'))
const connection = await ReplicationConnection.open(parseConnectionString(url, {}))
const tuning = process.env.INLET_TEST_TUNING === undefined ? {} : (JSON.parse(process.env.INLET_TEST_TUNING) as Record<string, number>)
const stream = await connection.startStreaming({ slot, publications: [publication], resumeLsn: 0n, spoolDirectory, ...tuning })
let changes = 0
let commits = 0
let streamed = false
let maxSpillBytes = 0
const sampler = setInterval(() => {
  const bytes = readdirSync(spoolDirectory).reduce((sum, f) => sum + statSync(join(spoolDirectory, f)).size, 0)
  maxSpillBytes = Math.max(maxSpillBytes, bytes)
}, 200)
while (commits < Number(countText)) {
  const batch = await stream.next()
  if (batch.done === true) break
  for (const event of batch.value) {
    if (event.kind === 'insert' || event.kind === 'update' || event.kind === 'delete') changes++
    else if (event.kind === 'begin' && event.streamed) streamed = true
    else if (event.kind === 'commit') {
      commits++
      stream.confirm(event.endLsn)
    }
  }
  // Like inlet run: let socket reads in between batches (the inbox fills while a replay goes on).
  await new Promise((resolve) => setImmediate(resolve))
}
clearInterval(sampler)
await stream.close()
// The stream removes its spool directory when it closes; anything left in it is a leak.
const leftover = existsSync(spoolDirectory) ? readdirSync(spoolDirectory).length : 0
console.log(JSON.stringify({ changes, commits, streamed, maxRssMB: Math.round(process.resourceUsage().maxRSS / 1024), maxSpillBytes, leftover }))
