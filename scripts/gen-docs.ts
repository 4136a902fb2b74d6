import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { GENERATED_PAGES } from './docs.js'
import { PROJECT_ROOT } from './project-root.js'

for (const [path, render] of Object.entries(GENERATED_PAGES)) {
  writeFileSync(join(PROJECT_ROOT, path), render())
  console.log(`wrote ${path}`)
}
