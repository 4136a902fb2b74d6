/**
 * What the replication stream hands to its consumer: whole committed transactions in commit order
 * (streamed ones replayed at their commit), with every change bound to the relation it was decoded
 * against. Already-applied transactions are never delivered.
 */
import type { Lsn } from '../../protocol/lsn.js'
import type { RelationColumn, ReplicaIdentity, TupleValue } from '../../protocol/pgoutput/messages.js'

export interface Relation {
  readonly id: number
  readonly schema: string
  readonly name: string
  readonly replicaIdentity: ReplicaIdentity
  readonly columns: readonly RelationColumn[]
}

export interface UserType {
  readonly oid: number
  readonly schema: string
  readonly name: string
}

export type StreamEvent =
  | { readonly kind: 'begin'; readonly xid: number; readonly finalLsn: Lsn; readonly commitTime: number; readonly streamed: boolean }
  | { readonly kind: 'origin'; readonly name: string; readonly originLsn: Lsn }
  | { readonly kind: 'relation'; readonly relation: Relation }
  | { readonly kind: 'type'; readonly type: UserType }
  | { readonly kind: 'insert'; readonly relation: Relation; readonly newTuple: readonly TupleValue[] }
  | {
      readonly kind: 'update'
      readonly relation: Relation
      readonly oldKind: 'key' | 'old' | undefined
      readonly oldTuple: readonly TupleValue[] | undefined
      readonly newTuple: readonly TupleValue[]
    }
  | { readonly kind: 'delete'; readonly relation: Relation; readonly oldKind: 'key' | 'old'; readonly oldTuple: readonly TupleValue[] }
  | { readonly kind: 'truncate'; readonly relations: readonly Relation[]; readonly cascade: boolean; readonly restartIdentity: boolean }
  | { readonly kind: 'message'; readonly transactional: boolean; readonly lsn: Lsn; readonly prefix: string; readonly content: Buffer }
  | { readonly kind: 'commit'; readonly xid: number; readonly commitLsn: Lsn; readonly endLsn: Lsn; readonly commitTime: number }
