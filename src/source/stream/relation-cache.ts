/**
 * Relations as the stream described them last; user types pass through as events. pgoutput sends
 * a Relation before the first change that needs it on each connection and after every relcache
 * invalidation, so the cache is per connection and a Relation does not by itself mean the schema
 * changed.
 */
import { ProtocolOrderError } from '../../protocol/protocol-error.js'
import type { RelationMessage, TypeMessage } from '../../protocol/pgoutput/messages.js'
import type { Relation, UserType } from './stream-events.js'

export class RelationCache {
  private readonly relations = new Map<number, Relation>()

  applyRelation(message: RelationMessage): Relation {
    const relation: Relation = Object.freeze({
      id: message.relationId,
      // An empty namespace on the wire means pg_catalog.
      schema: message.namespace === '' ? 'pg_catalog' : message.namespace,
      name: message.name,
      replicaIdentity: message.replicaIdentity,
      columns: Object.freeze([...message.columns]),
    })
    this.relations.set(relation.id, relation)
    return relation
  }

  applyType(message: TypeMessage): UserType {
    return Object.freeze({ oid: message.typeOid, schema: message.namespace === '' ? 'pg_catalog' : message.namespace, name: message.name })
  }

  relation(id: number, tag: string): Relation {
    const relation = this.relations.get(id)
    if (relation === undefined) throw new ProtocolOrderError(tag, `change for relation ${id} before its Relation message`)
    return relation
  }
}
