import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { scramSha256Verifier } from '../src/postgres/scram.js'

describe('SCRAM-SHA-256 verifier', () => {
  it('matches a verifier PostgreSQL 18 stored for the same password and salt', () => {
    // From: CREATE ROLE x PASSWORD 'pencil' on PostgreSQL 18 (pg_authid.rolpassword).
    const stored = 'SCRAM-SHA-256$4096:6baE8teGYFGRdWgW+QHm1A==$I053MTK2BPMCNOhMZtQR2KrMI085bMrOUewPJCjnTyo=:5kVrw0kAgoSSIrt+UWIE+YlvopYmRzzont0Ej/eUueY='
    const salt = Buffer.from('6baE8teGYFGRdWgW+QHm1A==', 'base64')
    assert.equal(scramSha256Verifier('pencil', salt), stored)
  })

  it('salts every verifier', () => {
    assert.notEqual(scramSha256Verifier('same'), scramSha256Verifier('same'))
  })
})
