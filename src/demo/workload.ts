/**
 * A live workload on the demo shop: small transactions that insert orders with their items, move
 * orders through their states, reprice products (leaving their TOASTed descriptions unchanged),
 * log events into the partitioned table, and trim page views (a table without a primary key).
 */
import pg from 'pg'

export interface WorkloadStats {
  transactions: number
}

const STEPS: ReadonlyArray<(c: pg.Client, n: number) => Promise<unknown>> = [
  async (c, n) => {
    await c.query('begin')
    const { rows } = await c.query<{ id: string }>(`insert into public.orders (customer_id, status, total) values (1 + $1::int % 200, 'new', 0) returning id`, [n])
    const order = rows[0]?.id
    await c.query(`insert into public.order_items (order_id, line, product_id, quantity, unit_price) select $1, l, 1 + ($2::int * l) % 50, l, 9.99 from generate_series(1, 3) l`, [order, n])
    await c.query(`update public.orders set total = (select sum(quantity * unit_price) from public.order_items where order_id = $1) where id = $1`, [order])
    return c.query('commit')
  },
  (c, n) => c.query(`update public.orders set status = case status when 'new' then 'paid' else 'shipped' end where id = (select id from public.orders where status <> 'shipped' order by id limit 1 offset $1::int % 5)`, [n]),
  (c, n) => c.query(`update public.products set price = price + 0.5, updated_at = now() where id = 1 + $1::int % 50`, [n]),
  (c, n) => c.query(`insert into public.events (at, kind, payload) values (timestamptz '2026-11-01' + ($1::int % 80000) * interval '1 minute', 'click', jsonb_build_object('n', $1::int))`, [n]), // within the partitions
  (c) => c.query(`delete from public.page_views where ctid = (select ctid from public.page_views order by viewed_at limit 1)`),
  (c, n) => c.query(`insert into public.page_views (path, referrer) values ('/p/' || $1::int % 50, null)`, [n]),
  (c) => c.query(`delete from public.orders where id = (select max(id) from public.orders where status = 'new')`),
  // Identical rows in a table without a key: a delete must remove exactly one of them.
  (c, n) => c.query(`insert into public.page_views (viewed_at, path) select timestamptz '2026-11-01' + ($1::int % 3) * interval '1 s', '/dup' from generate_series(1, 2)`, [n]),
  (c) => c.query(`update public.page_views set referrer = 'r' where ctid = (select ctid from public.page_views where path = '/dup' and referrer is null limit 1)`),
]

/** Runs until `signal` aborts, about `perSecond` transactions a second. */
export async function runWorkload(url: string, signal: AbortSignal, perSecond = 50): Promise<WorkloadStats> {
  const client = new pg.Client(url)
  client.on('error', () => undefined)
  await client.connect()
  const stats: WorkloadStats = { transactions: 0 }
  try {
    while (!signal.aborted) {
      const started = Date.now()
      const step = STEPS[stats.transactions % STEPS.length] as (c: pg.Client, n: number) => Promise<unknown>
      await step(client, stats.transactions)
      stats.transactions++
      const wait = 1000 / perSecond - (Date.now() - started)
      if (wait > 0) await new Promise((r) => setTimeout(r, wait))
    }
  } finally {
    await client.end().catch(() => undefined)
  }
  return stats
}
