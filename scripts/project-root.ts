import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/** dist/scripts → project root */
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
