#!/usr/bin/env node
// Entry point of the `inlet` command: the CLI lives in the compiled library (npm install builds it).
// First, before loading the CLI grows V8's young generation (runPipeline does it too, for library callers).
;(await import('../dist/src/pipeline/heap-governor.js')).limitYoungGeneration()
const { main } = await import('../dist/src/cli/main.js')

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
    // The command is over: a connection some failure path left open must not keep it alive.
    setTimeout(() => process.exit(code), 3000).unref()
  },
  (error) => {
    console.error(error)
    process.exitCode = 1
  },
)
