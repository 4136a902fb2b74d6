/**
 * An Iceberg warehouse in an S3 bucket (AWS S3 or an S3-compatible server), through the AWS SDK.
 * Credentials come from the SDK's usual chain (environment, profile, instance role) and are never
 * printed. Checksums are sent only when S3 requires them: servers that speak the S3 API without
 * the SDK's newer CRC checksums (OpenStack Swift's s3api, older MinIO) refuse `aws-chunked`
 * bodies, and ask for Content-MD5 on DeleteObjects, which the SDK no longer sends by itself.
 */
import { createHash } from 'node:crypto'
import { createReadStream, rmSync, statSync } from 'node:fs'
import { DeleteObjectsCommand, GetObjectCommand, HeadBucketCommand, ListObjectsV2Command, PutObjectCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3'
import { InletError } from '../../errors/inlet-error.js'
import type { Storage } from './storage.js'

export interface S3Settings {
  readonly bucket: string
  /** Key prefix of the warehouse, without leading or trailing slash ('' for the bucket's root). */
  readonly prefix: string
  readonly endpoint: string | undefined
  readonly region: string
  readonly pathStyle: boolean
}

const UPLOAD_ATTEMPTS = 4

// The pinned SDK release supports Node 20; its notice that later releases will not is for
// Inlet's maintainers (package.json pins the version), not a user's to act on in every run.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'

export class S3Storage implements Storage {
  readonly local = false
  readonly root: string
  private readonly client: S3Client
  private readonly uploader: S3Client

  constructor(private readonly settings: S3Settings) {
    this.root = `s3://${settings.bucket}${settings.prefix === '' ? '' : `/${settings.prefix}`}`
    const config: S3ClientConfig = {
      region: settings.region,
      forcePathStyle: settings.pathStyle,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      // A server that stops answering fails the request (and the batch, which is retried) rather than hanging it.
      requestHandler: { connectionTimeout: 10_000, requestTimeout: 60_000 },
      ...(settings.endpoint === undefined ? {} : { endpoint: settings.endpoint }),
    }
    this.client = new S3Client(config)
    // Uploads retry here, each attempt with a new stream of the file: the SDK cannot send a
    // stream again it has read once.
    this.uploader = new S3Client({ ...config, maxAttempts: 1 })
    this.client.middlewareStack.add(
      (next, context) => async (args) => {
        const request = args.request as { headers: Record<string, string>; body?: unknown }
        if (context.commandName === 'DeleteObjectsCommand' && typeof request.body === 'string') {
          request.headers['content-md5'] = createHash('md5').update(request.body).digest('base64')
        }
        return next(args)
      },
      { step: 'build', name: 'inletContentMd5' },
    )
  }

  child(location: string, ...names: string[]): string {
    return [location.replace(/\/+$/, ''), ...names].join('/')
  }

  /** Checks that the bucket exists and the credentials may use it. */
  async check(): Promise<void> {
    await this.call('reach the bucket', this.root, () => this.client.send(new HeadBucketCommand({ Bucket: this.settings.bucket })))
  }

  async write(location: string, bytes: Buffer | string): Promise<void> {
    const body = typeof bytes === 'string' ? Buffer.from(bytes) : bytes
    await this.call('write', location, () => this.client.send(new PutObjectCommand({ Bucket: this.settings.bucket, Key: this.key(location), Body: body, ContentLength: body.length })))
  }

  async read(location: string): Promise<Buffer | undefined> {
    try {
      const answer = await this.client.send(new GetObjectCommand({ Bucket: this.settings.bucket, Key: this.key(location) }))
      return Buffer.from(await (answer.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray())
    } catch (error) {
      if ((error as { name?: string }).name === 'NoSuchKey') return undefined
      throw this.failure('read', location, error)
    }
  }

  async upload(file: string, location: string): Promise<void> {
    const size = statSync(file).size
    for (let attempt = 1; ; attempt++) {
      try {
        await this.uploader.send(new PutObjectCommand({ Bucket: this.settings.bucket, Key: this.key(location), Body: createReadStream(file), ContentLength: size }))
        break
      } catch (error) {
        const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode
        // Refusals (4xx) do not pass on a second try; throttling, server errors and lost connections may.
        const retryable = status === undefined || status >= 500 || status === 429
        if (!retryable || attempt === UPLOAD_ATTEMPTS) throw this.failure('upload', location, error)
        await new Promise((resolve) => setTimeout(resolve, 200 * 4 ** (attempt - 1)))
      }
    }
    rmSync(file, { force: true })
  }

  async list(prefix: string): Promise<string[]> {
    const found: string[] = []
    let token: string | undefined
    const base = `${this.key(prefix).replace(/\/+$/, '')}/`
    do {
      const page = await this.call('list', prefix, () => this.client.send(new ListObjectsV2Command({ Bucket: this.settings.bucket, Prefix: base, ContinuationToken: token })))
      for (const o of page.Contents ?? []) if (o.Key !== undefined) found.push(`s3://${this.settings.bucket}/${o.Key}`)
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined
    } while (token !== undefined)
    return found
  }

  async remove(locations: readonly string[]): Promise<void> {
    for (let i = 0; i < locations.length; i += 1000) {
      const keys = locations.slice(i, i + 1000).map((l) => ({ Key: this.key(l) }))
      const answer = await this.call('remove', this.root, () => this.client.send(new DeleteObjectsCommand({ Bucket: this.settings.bucket, Delete: { Objects: keys, Quiet: true } })))
      const failed = answer.Errors?.[0]
      if (failed !== undefined) throw this.failure('remove', `s3://${this.settings.bucket}/${failed.Key ?? ''}`, { name: failed.Code, message: failed.Message })
    }
  }

  close(): void {
    this.client.destroy()
    this.uploader.destroy()
  }

  private key(location: string): string {
    const head = `s3://${this.settings.bucket}/`
    if (!location.startsWith(head)) throw new Error(`${location} is not in ${this.root}`)
    return location.slice(head.length)
  }

  private async call<T>(what: string, location: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send()
    } catch (error) {
      throw this.failure(what, location, error)
    }
  }

  private failure(what: string, location: string, error: unknown): InletError {
    const e = error as { name?: string; message?: string; $metadata?: { httpStatusCode?: number }; code?: string }
    const status = e.$metadata?.httpStatusCode
    const reason = e.name === 'NoSuchBucket' || (what === 'reach the bucket' && status === 404)
      ? `the bucket ${this.settings.bucket} does not exist`
      : status === 403 || e.name === 'AccessDenied' || e.name === 'SignatureDoesNotMatch' || e.name === 'InvalidAccessKeyId' || e.name === 'CredentialsProviderError'
        ? 'the credentials are missing or refused'
        : e.code === 'ECONNREFUSED' || e.code === 'ENOTFOUND' || e.name === 'TimeoutError'
          ? `the endpoint ${this.settings.endpoint ?? 'of the region'} cannot be reached`
          : `${e.name ?? 'error'}${status === undefined ? '' : ` (HTTP ${status})`}`
    const fix = reason.startsWith('the bucket')
      ? `Create the bucket (aws s3 mb s3://${this.settings.bucket}) or name an existing one.`
      : reason.startsWith('the credentials')
        ? 'Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) for a principal that may read, write, list and delete under the warehouse prefix.'
        : reason.startsWith('the endpoint')
          ? 'Check endpoint= in the destination URL (or AWS_ENDPOINT_URL_S3) and that the server is up.'
          : 'Check the S3 server; the batch was not confirmed and will be written again.'
    return new InletError('INLET-D007', `Could not ${what} ${location}: ${reason}.`, { cause: error, fix })
  }
}
