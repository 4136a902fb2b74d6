/**
 * A real S3 server for the tests: OpenStack Swift with its s3api and tempauth middlewares
 * (Debian's python3-swift), four Python processes on 127.0.0.1 with their data in a scratch
 * directory, started by the harness as the embedded PostgreSQL is. Swift ships no executables, so
 * the rings and servers are started through its Python entry points.
 *
 * `startS3()` returns undefined when python3-swift is missing and INLET_TEST_REQUIRE_S3 is not set
 * (CI installs it and sets it, so there a missing server fails the tests instead of skipping them).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CreateBucketCommand, ListBucketsCommand, S3Client } from '@aws-sdk/client-s3'

const PYTHON = '/usr/bin/python3'

export interface S3Server {
  readonly endpoint: string
  readonly accessKeyId: string
  readonly secretAccessKey: string
  /** The AWS variables an `inlet` process needs to reach it. */
  readonly env: Record<string, string>
  createBucket(name: string): Promise<void>
  stop(): Promise<void>
}

function swiftAvailable(): boolean {
  return existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import swift.common.wsgi'], { stdio: 'ignore' }).status === 0
}

const free = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port
      server.close(() => resolve(port))
    })
    server.on('error', reject)
  })

const canConnect = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })

export async function startS3(): Promise<S3Server | undefined> {
  if (!swiftAvailable()) {
    if (process.env.INLET_TEST_REQUIRE_S3 === '1') throw new Error('python3-swift is not installed (apt-get install -y --no-install-recommends python3-swift)')
    return undefined
  }
  const root = mkdtempSync(join(tmpdir(), 'inlet-swift-'))
  const etc = join(root, 'etc')
  mkdirSync(etc)
  mkdirSync(join(root, 'data', 'd1'), { recursive: true })
  const ports = { account: await free(), container: await free(), object: await free(), proxy: await free() }
  writeFileSync(join(etc, 'swift.conf'), '[swift-hash]\nswift_hash_path_suffix = inlet-test\n')
  for (const kind of ['account', 'container', 'object'] as const) {
    writeFileSync(
      join(etc, `${kind}-server.conf`),
      `[DEFAULT]\nbind_ip = 127.0.0.1\nbind_port = ${ports[kind]}\nworkers = 0\nswift_dir = ${etc}\ndevices = ${join(root, 'data')}\nmount_check = false\n\n[pipeline:main]\npipeline = ${kind}-server\n\n[app:${kind}-server]\nuse = egg:swift#${kind}\n`,
    )
  }
  const filters = ['catch_errors', 'gatekeeper', 'healthcheck', 'listing_formats', 'copy', 'slo', 'dlo'].map((f) => `[filter:${f}]\nuse = egg:swift#${f}\n`).join('\n')
  writeFileSync(
    join(etc, 'proxy-server.conf'),
    `[DEFAULT]\nbind_ip = 127.0.0.1\nbind_port = ${ports.proxy}\nworkers = 0\nswift_dir = ${etc}\n\n[pipeline:main]\npipeline = catch_errors gatekeeper healthcheck cache listing_formats s3api tempauth copy slo dlo proxy-server\n\n` +
      `[app:proxy-server]\nuse = egg:swift#proxy\naccount_autocreate = true\nerror_suppression_interval = 0\n\n[filter:s3api]\nuse = egg:swift#s3api\nlocation = us-east-1\nmulti_delete_concurrency = 8\n\n` +
      `[filter:tempauth]\nuse = egg:swift#tempauth\nuser_test_tester = testing .admin\n\n[filter:cache]\nuse = egg:swift#memcache\nlog_level = CRITICAL\n\n${filters}`,
  )
  // Rings through the RingBuilder API: one process, under a second.
  const rings = `
import sys
from swift.common.ring import RingBuilder
for kind, port in [('account', ${ports.account}), ('container', ${ports.container}), ('object', ${ports.object})]:
    b = RingBuilder(6, 1, 1)
    b.add_dev({'region': 1, 'zone': 1, 'ip': '127.0.0.1', 'port': port, 'replication_ip': '127.0.0.1', 'replication_port': port, 'device': 'd1', 'weight': 100})
    b.rebalance()
    b.get_ring().save('${etc}/' + kind + '.ring.gz')
`
  const built = spawnSync(PYTHON, ['-c', rings], { encoding: 'utf8' })
  if (built.status !== 0) throw new Error(`building Swift's rings failed: ${built.stderr}`)
  const start = 'import sys; from swift.common.utils import set_swift_dir; from swift.common.wsgi import run_wsgi; set_swift_dir(sys.argv[2]); sys.exit(run_wsgi(sys.argv[1], sys.argv[3], verbose=True))'
  const children: ChildProcess[] = []
  for (const kind of ['account', 'container', 'object', 'proxy'] as const) {
    const log = openSync(join(root, `${kind}.log`), 'a')
    // Each in a process group of its own: Swift signals its group when a server winds down (seen as
    // a fast shutdown of the embedded PostgreSQL sharing the test's group, a minute into a quiet spell).
    children.push(spawn(PYTHON, ['-c', start, join(etc, `${kind}-server.conf`), etc, `${kind}-server`], { stdio: ['ignore', log, log], detached: true }))
  }
  // A test process that ends without stop() (a failure, a module-level server) leaves none behind.
  process.once('exit', () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL')
  })
  const endpoint = `http://127.0.0.1:${ports.proxy}`
  const credentials = { accessKeyId: 'test:tester', secretAccessKey: 'testing' }
  const client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' })
  const stop = async () => {
    client.destroy()
    for (const c of [...children].reverse()) c.kill('SIGTERM')
    await Promise.all(children.map((c) => new Promise<void>((resolve) => {
      if (c.exitCode !== null || c.signalCode !== null) return resolve()
      const timer = setTimeout(() => { c.kill('SIGKILL'); resolve() }, 5000)
      c.once('exit', () => { clearTimeout(timer); resolve() })
    })))
    rmSync(root, { recursive: true, force: true })
  }
  try {
    const deadline = Date.now() + 60_000
    for (;;) {
      const up = (await Promise.all(Object.values(ports).map(canConnect))).every(Boolean)
      if (up) {
        try {
          await client.send(new ListBucketsCommand({}))
          break
        } catch (error) {
          if (Date.now() > deadline) throw error
        }
      }
      if (Date.now() > deadline) throw new Error(`Swift did not start within 60 s (logs in ${root})`)
      if (children.some((c) => c.exitCode !== null)) throw new Error(`a Swift server exited at start (logs in ${root})`)
      await new Promise((r) => setTimeout(r, 200))
    }
  } catch (error) {
    await stop()
    throw error
  }
  return {
    endpoint,
    ...credentials,
    env: { AWS_ACCESS_KEY_ID: credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey, AWS_REGION: 'us-east-1', AWS_ENDPOINT_URL_S3: endpoint, NODE_NO_WARNINGS: '1' },
    createBucket: async (name) => {
      await client.send(new CreateBucketCommand({ Bucket: name }))
    },
    stop,
  }
}
