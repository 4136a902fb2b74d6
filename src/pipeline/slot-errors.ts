/**
 * Errors about the replication slot that both the start of a run and a streaming run raise.
 */
import { InletError } from '../errors/inlet-error.js'
import type { SlotFacts } from '../source/preflight/facts.js'

/** INLET-S006 for a slot the server invalidated (wal_status lost), at start or while streaming. */
export function slotInvalidated(name: string, slot: SlotFacts): InletError {
  return new InletError('INLET-S006', `The slot "${name}" was invalidated (${slot.invalidationReason ?? 'wal_status lost'}): the server removed WAL it still needed, so changes since ${slot.confirmedFlushLsn ?? 'its last position'} are gone.`, {
    fix: 'Recreate the slot and copy every table again (each stays readable until its new copy replaces it): inlet run --resync. To keep it from recurring, raise max_slot_wal_keep_size or keep inlet run going.',
  })
}
