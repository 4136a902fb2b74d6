/**
 * Fault injection through the destination contract (no hooks in product code): a wrapper around
 * any destination that fails or kills the process at a named point. Used in-process by the
 * conformance suite, and by the crash tests through faulty-inlet.ts, the CLI with this wrapper.
 */
import type { BatchCommit, Destination } from '../../src/destination/destination.js'

export interface Faults {
  /** SIGKILL the process right after the N-th commit of a checkpoint (over every writer), before it is confirmed to the slot. */
  readonly killAfterCommit?: number
  /** Throw instead of the N-th commit of a checkpoint, before anything of it is written. */
  readonly failCommit?: number
  /**
   * The N-th commit of a checkpoint fails inside the destination, after its rows, at the
   * checkpoint: its commit time is not a time. Nothing of the batch may remain.
   */
  readonly badCheckpoint?: number
  /** The N-th commit of a checkpoint succeeds, then the call throws: nothing is confirmed to the slot, the next run is handed it again. */
  readonly failAfterCommit?: number
  /** Every commit is handed over a second time right after the first (a lost confirmation, a retry): it must change nothing. */
  readonly replayCommits?: boolean
}

export function faultyDestination(inner: Destination, faults: Faults, counter = { commits: 0 }): Destination {
  const overrides: Partial<Destination> = {
    commit: async (batch: BatchCommit) => {
      const n = batch.checkpoint === undefined ? 0 : ++counter.commits
      if (n > 0 && faults.failCommit === n) throw new Error(`injected fault: commit ${n} refused`)
      if (n > 0 && faults.badCheckpoint === n && batch.checkpoint !== undefined) {
        await inner.commit({ ...batch, checkpoint: { ...batch.checkpoint, commitTime: 'injected: not a time' } })
        throw new Error(`injected fault: commit ${n} was not refused`)
      }
      await inner.commit(batch)
      if (faults.replayCommits === true && batch.checkpoint !== undefined) await inner.commit(batch)
      if (n > 0 && faults.killAfterCommit === n) process.kill(process.pid, 'SIGKILL')
      if (n > 0 && faults.failAfterCommit === n) throw new Error(`injected fault: commit ${n} made, its confirmation lost`)
    },
    openWriter: async () => faultyDestination(await inner.openWriter(), faults, counter),
  }
  return new Proxy(inner, {
    get(target, property, receiver) {
      if (property in overrides) return overrides[property as keyof Destination]
      const value: unknown = Reflect.get(target, property, receiver)
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value
    },
  })
}
