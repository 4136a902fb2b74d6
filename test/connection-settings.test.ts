import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { describeConnection, parseConnectionString, pgpassLine, redactSecrets, settingsFromEnv, toSafeUrl } from '../src/postgres/connection-settings.js'
import { InletError } from '../src/errors/inlet-error.js'

describe('libpq connection strings', () => {
  it('parses a URL with every part, percent-decoded', () => {
    const s = parseConnectionString('postgresql://rep%40user:p%40ss@db.example.com:6543/my%20db?sslmode=verify-full&sslrootcert=/ca.pem&application_name=x&connect_timeout=5', {})
    assert.deepEqual(
      { host: s.host, port: s.port, database: s.database, user: s.user, password: s.password, sslmode: s.sslmode, sslrootcert: s.sslrootcert, app: s.applicationName, timeout: s.connectTimeoutSeconds },
      { host: 'db.example.com', port: 6543, database: 'my db', user: 'rep@user', password: 'p@ss', sslmode: 'verify-full', sslrootcert: '/ca.pem', app: 'x', timeout: 5 },
    )
  })

  it('parses IPv6 hosts and keyword strings with quoted values', () => {
    assert.equal(parseConnectionString('postgres://u@[::1]:5433/d', {}).host, '::1')
    const s = parseConnectionString(`host=h port=5 dbname='my db' user=u password='it\\'s'`, {})
    assert.deepEqual([s.host, s.port, s.database, s.user, s.password], ['h', 5, 'my db', 'u', "it's"])
  })

  it('fills gaps from PG* variables, then libpq defaults (prefer, port 5432, db = user)', () => {
    const env = { PGHOST: 'envhost', PGUSER: 'envuser', PGPASSWORD: 'envpw', PGSSLMODE: 'require' }
    const s = parseConnectionString('postgres:///shop', env)
    assert.deepEqual([s.host, s.user, s.password, s.sslmode, s.database, s.port], ['envhost', 'envuser', 'envpw', 'require', 'shop', 5432])
    const d = settingsFromEnv({ PGUSER: 'alice' })
    assert.deepEqual([d.host, d.database, d.sslmode, d.password], ['localhost', 'alice', 'prefer', undefined])
  })

  it('explicit values win over the environment', () => {
    const s = parseConnectionString('postgres://u@h:1/d?sslmode=disable', { PGHOST: 'x', PGPORT: '2', PGSSLMODE: 'require', PGDATABASE: 'y' })
    assert.deepEqual([s.host, s.port, s.database, s.sslmode], ['h', 1, 'd', 'disable'])
  })

  it('rejects bad input with INLET-C005, without echoing the password', () => {
    const cases = ['postgres://u:secret@h/d?sslmode=sometimes', 'postgres://u:secret@h/d?bogus=1', 'postgres://u:secret@h:99999/d', 'postgres://u:secret@h1,h2/d', 'host=h password=secret oops']
    for (const text of cases) {
      assert.throws(() => parseConnectionString(text, {}), (e: unknown) => e instanceof InletError && e.code === 'INLET-C005' && !e.message.includes('secret'), text)
    }
  })

  it('describes and prints connections without the password', () => {
    const s = parseConnectionString('postgres://u:secret@h:1/d?sslmode=verify-full&sslrootcert=/ca.pem', {})
    assert.equal(describeConnection(s), 'u@h:1/d')
    assert.equal(toSafeUrl(s), 'postgres://u@h:1/d?sslmode=verify-full&sslrootcert=%2Fca.pem')
  })

  it('a safe URL keeps every setting but the password: parsed back, it is the same connection', () => {
    const texts = [
      'postgres://u:secret@h:1/d?sslmode=verify-full&sslrootcert=/ca.pem&sslcert=/c.pem&sslkey=/k.pem&options=-c%20statement_timeout%3D0&connect_timeout=3&application_name=etl',
      'postgres://u:secret@[::1]:5433/my%20db',
      'host=/var/run/postgresql port=5432 dbname=shop user=inlet password=secret',
    ]
    for (const text of texts) {
      const s = parseConnectionString(text, {})
      const safe = toSafeUrl(s)
      assert.ok(!safe.includes('secret'), safe)
      assert.deepEqual(parseConnectionString(safe, {}), { ...s, password: undefined }, safe)
    }
  })

  it('a ~/.pgpass line escapes : and \\ as libpq reads them; a socket is localhost', () => {
    assert.equal(pgpassLine({ host: '::1', port: 5432, database: 'a:b', user: 'c\\d' }), '\\:\\:1:5432:a\\:b:c\\\\d:PASSWORD')
    assert.equal(pgpassLine({ host: '/tmp', port: 5433, database: 'shop', user: 'inlet' }), 'localhost:5433:shop:inlet:PASSWORD')
  })

  it('redacts passwords in URLs and keyword strings', () => {
    assert.equal(redactSecrets('see postgres://u:secret@h/d and password=hunter2 or password = \'a b\''), "see postgres://u:***@h/d and password=*** or password = ***")
  })

  it('redacts a password holding unencoded @ whole, as the parser reads it (up to the last @ of the authority)', () => {
    const url = 'postgres://u:p@ss@w0rd@db.example.com:5432/app?sslmode=require'
    assert.equal(parseConnectionString(url, {}).password, 'p@ss@w0rd')
    const shown = redactSecrets(`connecting to ${url} failed`)
    assert.equal(shown, 'connecting to postgres://u:***@db.example.com:5432/app?sslmode=require failed')
    for (const part of ['p@ss', 'ss@w0rd', 'w0rd']) assert.ok(!shown.includes(part), shown)
    // Two URLs on a line stay two.
    assert.equal(redactSecrets('postgres://a:x@y@h1/d postgres://b:z@h2/e'), 'postgres://a:***@h1/d postgres://b:***@h2/e')
  })
})
