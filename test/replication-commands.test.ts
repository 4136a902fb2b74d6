import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { InletError } from '../src/errors/inlet-error.js'
import { createSlotCommand, protocolVersionFor, startReplicationCommand } from '../src/source/stream/replication-commands.js'

describe('walsender commands by server version', () => {
  it('uses the highest protocol each version supports', () => {
    assert.deepEqual([130000, 140000, 150000, 160000, 170000, 180000].map(protocolVersionFor), [1, 2, 3, 4, 4, 4])
  })

  it('START_REPLICATION never sends an option the server would reject', () => {
    const start = (v: number) => startReplicationCommand(v, 'inlet_shop', 0x16_0000_00a0n, { publications: ['inlet_pub', 'Mixed Case'] })
    assert.equal(start(130023), `START_REPLICATION SLOT "inlet_shop" LOGICAL 16/A0 ("proto_version" '1', "publication_names" '"inlet_pub","Mixed Case"')`)
    assert.equal(start(140000), `START_REPLICATION SLOT "inlet_shop" LOGICAL 16/A0 ("proto_version" '2', "publication_names" '"inlet_pub","Mixed Case"', "streaming" 'on', "messages" 'true')`)
    assert.match(start(150000), /"proto_version" '3'/)
    assert.match(start(180004), /"proto_version" '4'.*"streaming" 'on', "messages" 'true'\)$/)
    assert.doesNotMatch(startReplicationCommand(180004, 's', 0n, { publications: ['p'], binary: false }), /binary/)
    assert.match(startReplicationCommand(180004, 's', 0n, { publications: ['p'], binary: true }), /"binary" 'true'/)
    assert.doesNotMatch(startReplicationCommand(130000, 's', 0n, { publications: ['p'], binary: true }), /binary/)
    assert.match(startReplicationCommand(140000, 's', 0n, { publications: ["it's"] }), /'"it''s"'/)
  })

  it('CREATE_REPLICATION_SLOT: legacy keywords before 15, options from 15, FAILOVER from 17', () => {
    assert.equal(createSlotCommand(140000, 's', { snapshot: 'export' }), 'CREATE_REPLICATION_SLOT "s" LOGICAL pgoutput EXPORT_SNAPSHOT')
    assert.equal(createSlotCommand(130000, 's', { snapshot: 'nothing', temporary: true }), 'CREATE_REPLICATION_SLOT "s" TEMPORARY LOGICAL pgoutput NOEXPORT_SNAPSHOT')
    assert.equal(createSlotCommand(140000, 's', { snapshot: 'use' }), 'CREATE_REPLICATION_SLOT "s" LOGICAL pgoutput USE_SNAPSHOT')
    assert.equal(createSlotCommand(150000, 's', { snapshot: 'export' }), `CREATE_REPLICATION_SLOT "s" LOGICAL pgoutput (SNAPSHOT 'export')`)
    assert.equal(createSlotCommand(170000, 's', { snapshot: 'nothing', failover: true }), `CREATE_REPLICATION_SLOT "s" LOGICAL pgoutput (SNAPSHOT 'nothing', FAILOVER true)`)
    assert.throws(() => createSlotCommand(160000, 's', { snapshot: 'export', failover: true }), (e: unknown) => e instanceof InletError && e.code === 'INLET-C007')
  })
})

describe('wal_sender_timeout parsing', async () => {
  const { parseDurationMs } = await import('../src/source/stream/replication-connection.js')
  it('reads SHOW output in every unit', () => {
    assert.deepEqual(['60s', '500ms', '1min', '0', '2h', '250'].map(parseDurationMs), [60_000, 500, 60_000, 0, 7_200_000, 250])
  })
})
