/**
 * `inlet` with faults injected into its destination, for crash tests: the faults come as JSON in
 * INLET_TEST_FAULTS (see faulty-destination.ts), the arguments as for bin/inlet.js.
 */
import { main } from '../../src/cli/main.js'
import { faultyDestination, type Faults } from './faulty-destination.js'

const faults = JSON.parse(process.env.INLET_TEST_FAULTS ?? '{}') as Faults
const code = await main(process.argv.slice(2), { wrapDestination: (d) => faultyDestination(d, faults) })
process.exitCode = code
setTimeout(() => process.exit(code), 3000).unref()
