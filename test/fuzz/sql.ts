/**
 * A round's SQL, generated from its data with a model of the schema as the steps change it, so
 * that any subset of the steps (a shrunk round) is still legal: an op on a column dropped or
 * renamed by an earlier step takes another column or does nothing.
 */
import type { ColumnKind, Op, Round, TableShape } from './generate.js'

const PARTITION_KEYS = 1000
const PARTITIONS = 5

interface LiveTable {
  readonly shape: TableShape
  columns: Array<{ name: string; kind: ColumnKind }>
  partitions: Set<number>
}

export class SchemaModel {
  private readonly tables = new Map<string, LiveTable>()
  private serial = 0

  constructor(round: Round) {
    for (const shape of round.tables) this.tables.set(shape.name, { shape, columns: shape.columns.map((c) => ({ ...c })), partitions: new Set(shape.partitioned ? Array.from({ length: PARTITIONS }, (_, i) => i) : []) })
  }

  /** Everything before the workload: types, tables, keys, identities, initial rows. */
  setup(round: Round): string {
    const statements = [`create type mood as enum ('sad', 'happy', 'ok')`, `create domain price as numeric(8,2) check (value > 0)`]
    for (const t of this.tables.values()) {
      const { shape } = t
      const keys = shape.key.map((k) => `${k} int not null`)
      const cols = t.columns.map((c) => `${c.name} ${sqlType(c.kind)}`)
      const partitionBy = shape.partitioned ? ` partition by range (k1)` : ''
      const constraint = shape.identity === 'pk' ? `, primary key (${shape.key.join(', ')})` : shape.identity === 'deferrable' ? `, primary key (${shape.key.join(', ')}) deferrable initially deferred` : ''
      statements.push(`create table ${shape.name} (${[...keys.sort(), ...cols].join(', ')}${constraint})${partitionBy}`)
      for (const p of t.partitions) statements.push(`create table ${shape.name}_p${p} partition of ${shape.name} for values from (${p * PARTITION_KEYS}) to (${(p + 1) * PARTITION_KEYS})`)
      if (shape.identity === 'index') {
        statements.push(`create unique index ${shape.name}_key on ${shape.name} (${shape.key.join(', ')})`)
        if (shape.partitioned) for (const p of t.partitions) statements.push(`alter table ${shape.name}_p${p} replica identity using index ${shape.name}_p${p}_${shape.key.join('_')}_idx`)
        else statements.push(`alter table ${shape.name} replica identity using index ${shape.name}_key`)
      }
      if (shape.identity === 'deferrable' || shape.identity === 'full') {
        statements.push(`alter table ${shape.name} replica identity full`)
        for (const p of t.partitions) statements.push(`alter table ${shape.name}_p${p} replica identity full`)
      }
      for (const c of t.columns) if (c.kind === 'toast') statements.push(`alter table ${shape.name} alter column ${c.name} set storage external`)
      if (round.initialRows > 0) statements.push(this.insert(t, round.initialRows))
    }
    return statements.join(';\n')
  }

  /** One op's SQL ('' when the schema no longer allows it). */
  op(op: Op): string {
    if (op.op === 'savepoint') {
      const inner = op.ops.map((o) => this.op(o)).filter((s) => s !== '')
      // Rolled back: the schema model must not keep what the inner DDL did, so savepoints hold DML only.
      return inner.length === 0 ? '' : `savepoint s; ${inner.join('; ')}; rollback to savepoint s`
    }
    const t = this.tables.get(op.table)
    if (t === undefined) return ''
    const name = t.shape.name
    const where = (mod: number, hit: number) => `abs(k1) % ${mod} = ${hit}`
    switch (op.op) {
      case 'insert':
        return op.dup === true && t.shape.identity === 'full' ? `insert into ${name} select * from ${name} where k1 % 5 = 0 limit 20` : this.insert(t, op.rows)
      case 'update': {
        const column = t.columns.find((c) => c.name === op.column) ?? t.columns[0]
        if (column === undefined) return ''
        return `update ${name} set ${column.name} = ${value(column.kind, `k1 + ${++this.serial}`)} where ${where(op.mod, op.hit)}`
      }
      case 'update-key':
        // k1 → -k1 - 1 is its own inverse: keys stay unique whatever subset it hits.
        return t.shape.partitioned ? '' : `update ${name} set k1 = -k1 - 1 where ${where(op.mod, op.hit)}`
      case 'delete':
        return `delete from ${name} where ${where(op.mod, op.hit)}`
      case 'odd-values': {
        const sets = t.columns.flatMap((c) => (c.kind === 'numeric' ? [`${c.name} = 'NaN'`] : c.kind === 'intarr' ? [`${c.name} = '[2:3]={7,8}'`] : c.kind === 'textarr' ? [`${c.name} = '[0:0]={"x y"}'`] : c.kind === 'text' ? [`${c.name} = ''`] : []))
        return sets.length === 0 ? '' : `update ${name} set ${sets.join(', ')} where ${where(op.mod, op.hit)}`
      }
      case 'add-column': {
        if (t.columns.some((c) => c.name === op.column)) return ''
        t.columns.push({ name: op.column, kind: op.kind })
        return `alter table ${name} add column ${op.column} ${sqlType(op.kind)}${op.fill ? ` default ${value(op.kind, '7')}` : ''}`
      }
      case 'drop-column': {
        const at = t.columns.findIndex((c) => c.name === op.column)
        if (at < 0 || t.columns.length <= 1) return ''
        t.columns.splice(at, 1)
        return `alter table ${name} drop column ${op.column}`
      }
      case 'rename-column': {
        const column = t.columns.find((c) => c.name === op.column)
        if (column === undefined || t.columns.some((c) => c.name === op.to)) return ''
        column.name = op.to
        return `alter table ${name} rename column ${op.column} to ${op.to}`
      }
      case 'widen-column': {
        const column = t.columns.find((c) => c.name === op.column)
        if (column?.kind === 'int') return (column.kind = 'bigint'), `alter table ${name} alter column ${column.name} type bigint`
        return ''
      }
      case 'truncate':
        return `truncate ${name}`
      case 'attach': {
        if (!t.shape.partitioned || t.partitions.has(op.partition)) return ''
        t.partitions.add(op.partition)
        const p = `${name}_p${op.partition}`
        const [lo, hi] = [op.partition * PARTITION_KEYS, (op.partition + 1) * PARTITION_KEYS]
        const identity = t.shape.identity === 'full' || t.shape.identity === 'deferrable' ? `; alter table ${p} replica identity full` : ''
        const rows = op.rows > 0 ? `; insert into ${p} ${this.selectRows(t, op.rows, `${lo} + g`)}` : ''
        const index = t.shape.identity === 'index' ? `; create unique index ${p}_${t.shape.key.join('_')}_idx on ${p} (${t.shape.key.join(', ')}); alter table ${p} replica identity using index ${p}_${t.shape.key.join('_')}_idx` : ''
        return `create table ${p} (like ${name} including defaults)${identity}${index}${rows}; alter table ${name} attach partition ${p} for values from (${lo}) to (${hi})`
      }
      case 'detach':
        if (!t.partitions.delete(op.partition)) return ''
        return `alter table ${name} detach partition ${name}_p${op.partition}`
      case 'truncate-partition':
        return t.partitions.has(op.partition) ? `truncate ${name}_p${op.partition}` : ''
    }
  }

  /** The schema as it is, to go back to after a transaction that rolls back. */
  save(): () => void {
    const saved = [...this.tables.values()].map((t) => ({ t, columns: t.columns.map((c) => ({ ...c })), partitions: new Set(t.partitions) }))
    return () => {
      for (const s of saved) Object.assign(s.t, { columns: s.columns, partitions: s.partitions })
    }
  }

  /** Source and destination table names to compare. */
  names(): string[] {
    return [...this.tables.keys()]
  }

  shape(name: string): TableShape | undefined {
    return this.tables.get(name)?.shape
  }

  private insert(t: LiveTable, rows: number): string {
    const start = this.nextKey(t, rows)
    if (t.shape.partitioned) {
      // Keys within the partitions the table has now (rows of others have nowhere to go).
      const live = [...t.partitions]
      if (live.length === 0) return ''
      const p = live[start % live.length] as number
      const base = p * PARTITION_KEYS
      return `insert into ${t.shape.name} ${this.selectRows(t, Math.min(rows, PARTITION_KEYS), `${base} + ((g + ${start}) % ${PARTITION_KEYS})`)} on conflict do nothing`
    }
    const conflict = t.shape.identity === 'pk' || t.shape.identity === 'index' ? ' on conflict do nothing' : ''
    return `insert into ${t.shape.name} ${this.selectRows(t, rows, `${start} + g`)}${conflict}`
  }

  private keys = new Map<string, number>()

  private nextKey(t: LiveTable, rows: number): number {
    const at = this.keys.get(t.shape.name) ?? 1
    this.keys.set(t.shape.name, at + rows)
    return at
  }

  private selectRows(t: LiveTable, rows: number, k1: string): string {
    const keys = [...t.shape.key].sort().map((k) => (k === 'k1' ? `${k1}` : `(${k1}) % ${k === 'k2' ? 7 : 3}`))
    const values = t.columns.map((c) => `case when (${k1}) % 11 = 0 then null else ${value(c.kind, `(${k1})`)} end`)
    return `select ${[...keys, ...values].join(', ')} from generate_series(0, ${rows - 1}) g`
  }
}

function sqlType(kind: ColumnKind): string {
  return { int: 'int', bigint: 'bigint', text: 'text', toast: 'text', numeric: 'numeric(10,2)', money: 'numeric', bool: 'boolean', ts: 'timestamptz', date: 'date', jsonb: 'jsonb', intarr: 'int[]', textarr: 'text[]', mood: 'mood', price: 'price', bytea: 'bytea', uuid: 'uuid' }[kind]
}

/** A value of the kind from the integer expression `g`: varied, with the characters that break naive code. */
function value(kind: ColumnKind, g: string): string {
  switch (kind) {
    case 'int':
      return `((${g}) * 7919 % 100000 - 50000)::int`
    case 'bigint':
      return `(${g})::bigint * 1000003`
    case 'text':
      return `(array['', 'a''b,c', e'line\\nbreak', 'tab\there', 'é🎉', 'NULL', '"q"', e'back\\\\slash'])[(${g}) % 8 + 1] || md5((${g})::text)`
    case 'toast':
      return `repeat(md5((${g})::text), 80 + (${g}) % 40)`
    case 'numeric':
      return `((${g}) % 100000 / 7.0)::numeric(10,2)`
    case 'money':
      return `((${g})::numeric / 3)`
    case 'bool':
      return `(${g}) % 2 = 0`
    case 'ts':
      return `timestamptz '2024-01-01 00:00:00+00' + (${g}) * interval '37 minutes 0.5 seconds'`
    case 'date':
      return `date '2000-02-29' + ((${g}) % 20000)`
    case 'jsonb':
      return `jsonb_build_object('g', ${g}, 's', md5((${g})::text), 'a', jsonb_build_array(1, 2.5, null))`
    case 'intarr':
      return `array[(${g})::int, (${g})::int % 5, null]`
    case 'textarr':
      return `array[md5((${g})::text), 'a b', '', 'x,y', null]`
    case 'mood':
      return `(array['sad', 'happy', 'ok'])[(${g}) % 3 + 1]::mood`
    case 'price':
      return `((abs(${g}) % 1000 + 1) * 1.25)::price`
    case 'bytea':
      return `decode(md5((${g})::text), 'hex')`
    case 'uuid':
      return `md5((${g})::text)::uuid`
  }
}
