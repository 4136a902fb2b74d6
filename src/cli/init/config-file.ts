/**
 * The commented inlet.yaml that `inlet init` writes. No secret goes into it: connections name
 * their user, and the password comes from PGPASSWORD or ~/.pgpass when a command connects.
 * The text is parsed back with the config loader before it is written, so it always loads.
 */
import { stringify } from 'yaml'
import { parseConfigText } from '../../config/load.js'
import type { ConfigInput, TableEntryInput } from '../../config/schema.js'
import { pgpassLine, type ConnectionSettings } from '../../postgres/connection-settings.js'

export interface InitSource {
  readonly name: string
  readonly connection: ConnectionSettings
  readonly url: string
  readonly adminUrl: string
  readonly publication: string
  readonly slot: string
  readonly replicationUser: string
  readonly tables: readonly TableEntryInput[]
}

export function renderConfig(sources: readonly InitSource[], destination: string, today: string, path: string): string {
  const input: ConfigInput = {
    destination,
    sources: sources.map((s) => ({
      name: s.name,
      url: s.url,
      admin_url: s.adminUrl,
      publication: s.publication,
      slot: s.slot,
      replication_user: s.replicationUser,
      tables: [...s.tables],
    })),
  }
  const pgpass = sources.map((s) => `#       ${pgpassLine({ ...s.connection, user: s.replicationUser })}`)
  const header = [
    `# inlet.yaml, written by \`inlet init\` on ${today}. docs/configuration.md describes every field.`,
    '#',
    '# No password is written here. Each connection takes its password as libpq does, from',
    '#   - the PGPASSWORD environment variable, or',
    '#   - ~/.pgpass (chmod 600), one line per database and user: HOST:PORT:DATABASE:USER:PASSWORD',
    ...[...new Set(pgpass)],
    '#',
    '# Next: inlet run (copies the tables, then streams their changes), inlet status, inlet doctor.',
    '',
  ]
  const body = stringify(input, { lineWidth: 0 })
    .replace(/^destination:/m, '# Where the tables land: duckdb:FILE, iceberg:file:///DIR or iceberg:s3://BUCKET/PREFIX?catalog=...\ndestination:')
    .replace(/^(\s+)url:/gm, '$1# The replication user: inlet run, status and doctor connect as it.\n$1url:')
    .replace(/^(\s+)admin_url:/gm, '$1# Used only by inlet setup and inlet teardown (a superuser or the tables\' owner).\n$1admin_url:')
    .replace(/^(\s+)tables:/gm, '$1# Tables to replicate; scd: 2 keeps every version of a row; exclude_columns are never copied.\n$1tables:')
  const text = `${header.join('\n')}${body}`
  parseConfigText(text, path)
  return text
}
