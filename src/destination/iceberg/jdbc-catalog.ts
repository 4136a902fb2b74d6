/**
 * The Iceberg JDBC catalog, kept in PostgreSQL: the `iceberg_tables` and
 * `iceberg_namespace_properties` tables that the JdbcCatalog of Spark, Trino and Flink read, so
 * that they find Inlet's tables by name. A commit swaps each table's `metadata_location` by
 * compare-and-set (the update names the location it replaces), and all tables of one batch
 * commit in one PostgreSQL transaction: a reader sees all of a batch or none of it.
 *
 * On object storage this is the commit point: the metadata file of a version has a unique name
 * (`00042-<uuid>.metadata.json`, as Iceberg's own writers name them), written before the catalog
 * names it, so a crashed commit leaves at most a file that nothing references.
 */
import { InletError } from '../../errors/inlet-error.js'
import { connect, type SqlClient } from '../../postgres/connect.js'
import { describeConnection, type ConnectionSettings } from '../../postgres/connection-settings.js'
import { quoteIdent, quoteLiteral } from '../../postgres/sql-text.js'
import { tableLocation, type Catalog, type CurrentMetadata, type PendingVersion } from './catalog.js'
import type { Storage } from './storage.js'
import type { TableMetadata } from './table-metadata.js'

export interface JdbcCatalogSettings {
  readonly connection: ConnectionSettings
  /** The catalog's name in `catalog_name` (engines are configured with the same name). */
  readonly name: string
  /** The PostgreSQL schema holding the catalog tables. */
  readonly schema: string
}

/** The version number a metadata file's name starts with (`00042-….metadata.json`, `v42.metadata.json`). */
export function metadataVersion(file: string): number {
  const m = /(?:^|\/)v?(\d+)(?:-[^/]*)?\.metadata\.json$/.exec(file)
  return m === null ? 0 : Number(m[1])
}

export class JdbcCatalog implements Catalog {
  readonly display: string
  private client: SqlClient | undefined
  private readonly tables: string
  private readonly namespaces: string
  /** The last metadata read or published per table: a batch reads the file again only when the catalog moved. */
  private readonly known = new Map<string, CurrentMetadata>()

  private constructor(
    readonly storage: Storage,
    private readonly settings: JdbcCatalogSettings,
  ) {
    this.display = `JDBC catalog ${settings.name} in ${describeConnection(settings.connection)} (schema ${settings.schema})`
    this.tables = `${quoteIdent(settings.schema)}.iceberg_tables`
    this.namespaces = `${quoteIdent(settings.schema)}.iceberg_namespace_properties`
  }

  /** Connects and creates the catalog tables (as Iceberg's JdbcCatalog does) when they are missing. */
  static async open(storage: Storage, settings: JdbcCatalogSettings, readOnly: boolean): Promise<JdbcCatalog> {
    const catalog = new JdbcCatalog(storage, settings)
    if (!readOnly) {
      const client = await catalog.connection()
      await catalog.run(client, 'create the catalog tables', async () => {
        // Only what is missing: CREATE ... IF NOT EXISTS still needs the right to create, which a
        // role given a schema and its two tables need not have.
        const found = await client.query<{ schema: boolean; tables: boolean; namespaces: boolean }>('SELECT to_regnamespace($1) IS NOT NULL AS schema, to_regclass($2) IS NOT NULL AS tables, to_regclass($3) IS NOT NULL AS namespaces', [quoteIdent(settings.schema), catalog.tables, catalog.namespaces])
        const exists = found.rows[0]
        if (exists?.schema !== true) await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(settings.schema)}`)
        if (exists?.tables !== true) await client.query(`CREATE TABLE IF NOT EXISTS ${catalog.tables} (catalog_name VARCHAR(255) NOT NULL, table_namespace VARCHAR(255) NOT NULL, table_name VARCHAR(255) NOT NULL, metadata_location VARCHAR(1000), previous_metadata_location VARCHAR(1000), iceberg_type VARCHAR(5), PRIMARY KEY (catalog_name, table_namespace, table_name))`)
        if (exists?.namespaces !== true) await client.query(`CREATE TABLE IF NOT EXISTS ${catalog.namespaces} (catalog_name VARCHAR(255) NOT NULL, namespace VARCHAR(255) NOT NULL, property_key VARCHAR(255), property_value VARCHAR(1000), PRIMARY KEY (catalog_name, namespace, property_key))`)
      })
    }
    return catalog
  }

  async current(namespace: string, name: string): Promise<CurrentMetadata | undefined> {
    const client = await this.connection()
    const found = await this.run(client, 'read the catalog', () =>
      client.query<{ metadata_location: string | null }>(`SELECT metadata_location FROM ${this.tables} WHERE catalog_name = $1 AND table_namespace = $2 AND table_name = $3 AND (iceberg_type = 'TABLE' OR iceberg_type IS NULL)`, [this.settings.name, namespace, name]),
    )
    const file = found.rows[0]?.metadata_location ?? null
    if (file === null) return undefined
    // Another warehouse's table of the same name in the same catalog: a setup mistake, not a fault to retry.
    if (!file.startsWith(`${this.storage.root}/`)) {
      throw new InletError('INLET-D003', `The ${this.display} has a table ${namespace}.${name} in another warehouse (${file}), not under ${this.storage.root}.`, {
        fix: `Give this destination a catalog of its own: catalog_name=NAME (or catalog_schema=SCHEMA) in the destination URL.`,
      })
    }
    const key = `${namespace}.${name}`
    const cached = this.known.get(key)
    if (cached?.file === file) return cached
    const bytes = await this.storage.read(file)
    if (bytes === undefined) {
      throw new InletError('INLET-D008', `The catalog names ${file} as the metadata of ${key}, but there is no such file.`, { fix: `Restore the file, or drop the table from the catalog (DELETE FROM ${this.tables} WHERE table_namespace = ${quoteLiteral(namespace)} AND table_name = ${quoteLiteral(name)}) and copy it again with inlet refresh.` })
    }
    const current: CurrentMetadata = { version: metadataVersion(file), file, meta: JSON.parse(bytes.toString('utf8')) as TableMetadata }
    this.known.set(key, current)
    return current
  }

  metadataFile(location: string, version: number, commit: string): string {
    return this.storage.child(location, 'metadata', `${String(version).padStart(5, '0')}-${commit}.metadata.json`)
  }

  async prepare(namespace: string, name: string, version: number, meta: TableMetadata, previous: string, commit: string): Promise<PendingVersion> {
    const location = tableLocation(this.storage, namespace, name)
    const file = this.metadataFile(location, version, commit)
    await this.storage.write(file, JSON.stringify(meta))
    return { namespace, name, location, version, file, previous }
  }

  dropHint(namespace: string, name: string): string {
    return `DELETE FROM ${this.tables} WHERE catalog_name = ${quoteLiteral(this.settings.name)} AND table_namespace = ${quoteLiteral(namespace)} AND table_name = ${quoteLiteral(name)}; (in the catalog database)`
  }

  publishedFile(pending: PendingVersion): string {
    return pending.file
  }

  /** One transaction for all: each table's location swapped from the one it replaces, or none of them. */
  async publish(pending: readonly PendingVersion[]): Promise<void> {
    if (pending.length === 0) return
    const client = await this.connection()
    await this.run(client, 'commit to the catalog', async () => {
      await client.query('BEGIN')
      try {
        for (const p of pending) await this.swap(client, p)
        await client.query('COMMIT')
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined)
        throw error
      }
    })
    for (const p of pending) this.known.delete(`${p.namespace}.${p.name}`)
  }

  private async swap(client: SqlClient, p: PendingVersion): Promise<void> {
    const c = this.settings.name
    await client.query(`INSERT INTO ${this.namespaces} VALUES ($1, $2, 'exists', 'true') ON CONFLICT DO NOTHING`, [c, p.namespace])
    const changed = p.previous === ''
      ? await client.query(`INSERT INTO ${this.tables} VALUES ($1, $2, $3, $4, NULL, 'TABLE') ON CONFLICT DO NOTHING`, [c, p.namespace, p.name, p.file])
      : await client.query(`UPDATE ${this.tables} SET metadata_location = $4, previous_metadata_location = $5 WHERE catalog_name = $1 AND table_namespace = $2 AND table_name = $3 AND metadata_location = $5`, [c, p.namespace, p.name, p.file, p.previous])
    if (changed.rowCount === 1) return
    // Not swapped: done already (a publish finished before a crash), or another writer's.
    const now = await client.query<{ metadata_location: string | null }>(`SELECT metadata_location FROM ${this.tables} WHERE catalog_name = $1 AND table_namespace = $2 AND table_name = $3`, [c, p.namespace, p.name])
    if (now.rows[0]?.metadata_location === p.file) return
    throw new InletError('INLET-D002', `Another writer changed the Iceberg table ${p.namespace}.${p.name} in the catalog since Inlet last committed it (its metadata_location is no longer the one this commit replaces).`, {
      fix: `Stop the other writer, then write Inlet's copy (equal to the source) over it: inlet compact ${p.namespace}.${p.name}`,
      details: { conflict: { namespace: p.namespace, name: p.name } },
    })
  }

  async close(): Promise<void> {
    const client = this.client
    this.client = undefined
    await client?.end().catch(() => undefined)
  }

  private busy: Promise<unknown> = Promise.resolve()

  private async connection(): Promise<SqlClient> {
    if (this.client !== undefined) return this.client
    let client: SqlClient
    try {
      client = await connect(this.settings.connection)
    } catch (error) {
      const inner = error instanceof InletError ? error : undefined
      throw new InletError('INLET-D008', `Could not connect to the ${this.display}: ${inner?.message ?? String((error as Error).message)}`, { cause: error, fix: inner?.fix ?? 'Check catalog= in the destination URL and that the database is up.' })
    }
    // A dropped connection is opened again by the next call.
    client.on('error', () => {
      if (this.client === client) this.client = undefined
    })
    this.client = client
    return client
  }

  /**
   * One use of the connection at a time: the writers of a run share it, and a read between a
   * publish's BEGIN and COMMIT would see (and cache) locations that may yet roll back.
   */
  private run<T>(client: SqlClient, what: string, work: () => Promise<T>): Promise<T> {
    const next = this.busy.catch(() => undefined).then(() => this.attempt(client, what, work))
    this.busy = next
    return next
  }

  private async attempt<T>(client: SqlClient, what: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work()
    } catch (error) {
      if (error instanceof InletError) throw error
      if (this.client === client) {
        this.client = undefined
        await client.end().catch(() => undefined)
      }
      const code = (error as { code?: string }).code
      const rights = code === '42501'
      throw new InletError('INLET-D008', `Could not ${what} (${this.display}): ${rights ? 'permission denied' : String((error as Error).message ?? error)}.`, {
        cause: error,
        fix: rights
          ? `GRANT USAGE, CREATE ON SCHEMA ${quoteIdent(this.settings.schema)} TO ${quoteIdent(this.settings.connection.user)}; and GRANT SELECT, INSERT, UPDATE ON ${this.tables}, ${this.namespaces} TO ${quoteIdent(this.settings.connection.user)};`
          : 'Check that the catalog database is up and reachable; the batch was not confirmed and will be committed again.',
      })
    }
  }
}
