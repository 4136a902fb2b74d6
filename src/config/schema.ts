/**
 * The config file's schema: the single declaration of its fields, defaults and documentation
 * (`docs/configuration.md` is generated from these descriptions).
 */
import { z } from 'zod'

const identifier = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[A-Za-z_][A-Za-z0-9_$]*$/, 'use letters, digits and underscores (at most 63), starting with a letter or underscore')

const slotName = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9_]+$/, 'replication slot names may contain only lower-case letters, digits and underscores')

const tablePattern = z
  .string()
  .min(1)
  .describe('A table name or pattern: `schema.table`, `schema.*`, `*.table` or `table` (schema public). Unquoted names fold to lower case as in SQL; write `"MySchema"."Orders"` for mixed case.')

const tableEntry = z.union([
  tablePattern,
  z
    .strictObject({
      table: tablePattern,
      as: z
        .string()
        .regex(/^[^.]+(\.[^.]+)?$/, 'use table or schema.table')
        .optional()
        .describe('Destination name: `table` (in the source schema) or `schema.table`. Default: the source schema and name.'),
      scd: z.union([z.literal(1), z.literal(2)]).optional().describe('SCD type for this table: 1 (mirror) or 2 (history). Default: the top-level `scd`.'),
      exclude_columns: z.array(z.string().min(1)).optional().describe('Columns not copied to the destination (never key columns).'),
    })
    .describe('A table with options.'),
])

export const sourceSchema = z
  .strictObject({
    name: identifier.optional().describe('A short name for this source, used in output and as the destination schema prefix. Default: the database name.'),
    url: z.string().min(1).describe('libpq connection URL or keywords for the replication user, e.g. `postgres://inlet@db.example.com:5432/shop?sslmode=verify-full`. The password may come from the URL, `PGPASSWORD` or `~/.pgpass`.'),
    admin_url: z.string().min(1).optional().describe('Connection used by `inlet setup --apply` and `inlet teardown` (a superuser or the table owner). Default: `url`.'),
    publication: identifier.optional().describe('Publication in this database. Default: `inlet_pub`.'),
    slot: slotName.optional().describe('Logical replication slot for this database (names are server-wide). Default: `inlet_` followed by the database name.'),
    tables: z.array(tableEntry).min(1).optional().describe('Tables to replicate from this source: patterns, or `{table, as, scd, exclude_columns}` objects. Default: the top-level `tables`, or else every table in the publication.'),
    replication_user: identifier.optional().describe('The role `inlet setup` creates and grants for replication. Default: the user in `url`.'),
    destination_schema: identifier
      .optional()
      .describe('DuckDB schema for this source\'s tables: a table of the source\'s `public` schema lands in it, one of schema `s` in `<destination_schema>_s`. Default: the source\'s name when several sources are configured; with one source, each table lands in the schema it has in the source. A table\'s `as: schema.table` wins.'),
    failover: z
      .boolean()
      .optional()
      .describe('PostgreSQL 17+: create the slot as a failover slot, which the server synchronizes to physical standbys (`sync_replication_slots = on` and `hot_standby_feedback = on` on the standby, its physical slot listed in `synchronized_standby_slots` on the primary), so that streaming continues from the promoted standby after a failover. Default false.'),
  })
  .describe('One source database. Each database has its own publication and slot.')

export const configSchema = z
  .strictObject({
    sources: z.array(sourceSchema).min(1).optional().describe('Source databases. Can also come from `--source` flags or the `PG*` environment variables.'),
    tables: z.array(tableEntry).min(1).optional().describe('Tables to replicate from every source that does not list its own: patterns, or `{table, as, scd, exclude_columns}` objects.'),
    destination: z
      .string()
      .regex(/^(duckdb:.+|iceberg:(file|s3):\/\/.+)/, 'use duckdb:PATH (e.g. duckdb:./lake.duckdb), iceberg:file:///PATH or iceberg:s3://BUCKET/PREFIX?catalog=postgresql://USER@HOST/DB')
      .optional()
      .describe('Where tables land: `duckdb:PATH`, a DuckDB file (default `duckdb:./inlet.duckdb`), `iceberg:file:///PATH`, Iceberg v2 tables under PATH (one directory per `schema/table`, read by path by ClickHouse and by the Hadoop catalogs of Spark and Flink) written from a local DuckDB mirror in `PATH/_inlet/`, or `iceberg:s3://BUCKET/PREFIX?catalog=postgresql://USER@HOST/DB`, Iceberg tables in an S3 bucket found by name through the Iceberg JDBC catalog kept in that PostgreSQL database (more parameters before `catalog`, which comes last: `endpoint=URL`, `region=R`, `path_style=true`, `mirror=DIR`, `catalog_name=N`, `catalog_schema=S`; see the README). Quote it in YAML.'),
    scd: z.union([z.literal(1), z.literal(2)]).optional().describe('SCD type for every table: 1 (mirror, default) or 2 (history).'),
    auto_refresh: z
      .enum(['scd1', 'all', 'off'])
      .optional()
      .describe('Copy a table again by itself when a schema change cannot be followed in place: `scd1` (default; SCD2 tables stop instead, as a new copy replaces their history), `all`, or `off` (stop with INLET-S007).'),
    commit_interval_seconds: z
      .number()
      .positive()
      .max(3600)
      .optional()
      .describe('How long a batch of the stream may gather changes before it commits (it commits sooner when it reaches commit_max_changes or its share of memory_limit). Default 0.5 for DuckDB (sub-second latency), 10 for Iceberg, where every commit writes files: fewer, larger commits cost less to store and to read.'),
    commit_max_changes: z
      .number()
      .int()
      .positive()
      .optional()
      .describe('Commit a batch once it holds this many changes (at a transaction boundary). Default 50000 for DuckDB, 500000 for Iceberg.'),
    heartbeat_seconds: z
      .number()
      .int()
      .positive()
      .optional()
      .describe('While streaming, write a logical decoding message (pg_logical_emit_message, prefix `inlet.heartbeat`) to the source every this many seconds, so that the slot advances even when the database itself writes nothing (for example on managed services whose other databases fill the WAL). Off by default.'),
    retained_wal_warning_mb: z
      .number()
      .positive()
      .optional()
      .describe('Warn (log `slot.wal`) when the slot retains more WAL than this, in MB, or when its `safe_wal_size` falls below it. Default 1024.'),
    memory_limit: z
      .union([z.number().positive(), z.string().regex(/^\s*\d+(\.\d+)?\s*(kB|KB|KiB|MB|MiB|GB|GiB)?\s*$/, 'use a size such as 256MB or 1GB')])
      .optional()
      .describe('Memory `inlet run` may use in all, DuckDB\'s buffer pool included (which spills to disk beyond its share), e.g. `512MB` or `2GB`; a number is megabytes. At least 256MB; default 288MB. A commit whose staged changes pass 64 MB (twice DuckDB\'s pool share at a larger limit: a transaction staged in parts) runs without string compression (DuckDB\'s compression analysis is memory outside its pool): its rows\' strings are stored uncompressed, numbers and dates still compressed.'),
    dropped_columns: z
      .enum(['keep', 'drop'])
      .optional()
      .describe('A column dropped in the source: `keep` (default; it stays in the destination, NULL in rows written afterwards, as Lakeflow does) or `drop` (dropped from the destination table, with its values).'),
  })
  .describe('inlet.yaml')

export type ConfigInput = z.infer<typeof configSchema>
export type SourceInput = z.infer<typeof sourceSchema>
export type TableEntryInput = z.infer<typeof tableEntry>
