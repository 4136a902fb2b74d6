#!/usr/bin/env node
// Entry point of the `inlet` command: the CLI lives in the compiled library (npm install builds it).
import v8 from 'node:v8'

// First, before loading the CLI grows V8's young generation (see limitYoungGeneration in
// src/pipeline/heap-governor.ts, which a library caller of runPipeline gets).
v8.setFlagsFromString('--semi-space-growth-factor=1')
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
