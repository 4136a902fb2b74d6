import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { GENERATED_PAGES } from '../scripts/docs.js'
import { PROJECT_ROOT } from '../scripts/project-root.js'

describe('generated docs', () => {
  for (const [path, render] of Object.entries(GENERATED_PAGES)) {
    it(`${path} is current (npm run docs)`, () => {
      assert.equal(readFileSync(join(PROJECT_ROOT, path), 'utf8'), render())
    })
  }
})
