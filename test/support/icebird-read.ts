/**
 * A second reader of Inlet's Iceberg tables, independent of ClickHouse and of DuckDB: icebird, a
 * maintained JavaScript Iceberg reader (hyparquet underneath). It resolves the snapshot itself
 * (manifest list, manifests, position deletes, field ids) from the table's metadata file.
 *
 * icebird reads over `fetch` (s3:// locations become https://BUCKET.s3.amazonaws.com/KEY); the
 * fetch given to it here answers from the real files: the file system for a file warehouse, the
 * local S3 server through the AWS SDK for an s3:// one. Only the transport is adapted.
 */
import { readFileSync } from 'node:fs'
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { icebergRead } from 'icebird'
import { openDuck } from './compare.js'

const S3_HOST = /^https:\/\/([^/]+)\.s3\.amazonaws\.com\/(.*)$/

/** The rows of the table whose current metadata file is `metadataFile` (a path or an s3:// location), as icebird reads them. */
export async function readWithIcebird(metadataFile: string): Promise<Array<Record<string, unknown>>> {
  const cut = metadataFile.lastIndexOf('/metadata/')
  const tableUrl = metadataFile.slice(0, cut)
  const metadataFileName = metadataFile.slice(cut + '/metadata/'.length)
  const client = metadataFile.startsWith('s3://') ? new S3Client({ region: process.env.AWS_REGION ?? 'us-east-1', endpoint: process.env.AWS_ENDPOINT_URL_S3, forcePathStyle: true }) : undefined
  const original = globalThis.fetch
  globalThis.fetch = (async (input: string | URL | Request) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url
    const s3 = S3_HOST.exec(url)
    let bytes: Uint8Array
    if (s3 !== null && client !== undefined) {
      const object = await client.send(new GetObjectCommand({ Bucket: s3[1], Key: decodeURIComponent(s3[2] as string) }))
      bytes = await (object.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray()
    } else {
      bytes = readFileSync(url.startsWith('file://') ? new URL(url) : url)
    }
    // The whole object (status 200): hyparquet slices it itself.
    return new Response(bytes, { status: 200, headers: { 'content-length': String(bytes.byteLength) } })
  }) as typeof fetch
  try {
    return await icebergRead({ tableUrl, metadataFileName })
  } catch (error) {
    // icebird refuses a snapshot without data manifests: an empty table.
    if (error instanceof Error && /No data manifest files/.test(error.message)) return []
    throw error
  } finally {
    globalThis.fetch = original
    client?.destroy()
  }
}

const q = (name: string) => `"${name.replace(/"/g, '""')}"`

/**
 * Throws unless icebird's rows of a table equal the mirror's: row count, and the values of its
 * integer, text and boolean columns row by row (as a multiset; the others icebird gives in its
 * own forms, which ClickHouse's comparison covers).
 */
export async function assertIcebirdMatchesMirror(metadataFile: string, mirror: string, table: string): Promise<void> {
  const rows = await readWithIcebird(metadataFile)
  const { duck, close } = await openDuck(mirror)
  try {
    const [schema, name] = table.split('.') as [string, string]
    const described = (await (await duck.runAndReadAll(`DESCRIBE ${q(schema)}.${q(name)}`)).getRowObjectsJS()) as Array<{ column_name: string; column_type: string }>
    const columns = described.filter((c) => /^(TINYINT|SMALLINT|INTEGER|BIGINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|VARCHAR|BOOLEAN)$/.test(c.column_type)).map((c) => c.column_name)
    const key = (values: readonly unknown[]) => JSON.stringify(values.map((v) => (v === null || v === undefined ? null : String(v))))
    const theirs = rows.map((r) => key(columns.map((c) => r[c]))).sort()
    const select = columns.length === 0 ? '1 AS one' : columns.map((c) => `${q(c)}`).join(', ')
    const mine = ((await (await duck.runAndReadAll(`SELECT ${select} FROM ${q(schema)}.${q(name)}`)).getRowObjectsJS()) as Array<Record<string, unknown>>).map((r) => key(columns.map((c) => r[c]))).sort()
    if (theirs.length !== mine.length) throw new Error(`${table}: icebird reads ${theirs.length} rows, the mirror holds ${mine.length}`)
    const differing = theirs.filter((t, i) => t !== mine[i]).length
    if (differing > 0) throw new Error(`${table}: ${differing} of ${mine.length} rows differ between icebird and the mirror (columns ${columns.join(', ')})`)
  } finally {
    close()
  }
}
