/**
 * The demo's source database: a small shop with the shapes that make CDC hard. Products carry a
 * large description (TOASTed, so updates of other columns arrive without it), events are
 * partitioned by month, and page views have no primary key.
 */

export const SAMPLE_SCHEMA = /* sql */ `
create table public.customers (
  id bigint generated always as identity primary key,
  email text not null unique,
  name text not null,
  country char(2) not null,
  created_at timestamptz not null default now()
);

create table public.products (
  id bigint generated always as identity primary key,
  sku text not null unique,
  title text not null,
  price numeric(10, 2) not null,
  description text not null,
  tags text[] not null default '{}',
  updated_at timestamptz not null default now()
);

create table public.orders (
  id bigint generated always as identity primary key,
  customer_id bigint not null references public.customers (id),
  status text not null default 'new',
  total numeric(12, 2) not null default 0,
  ordered_at timestamptz not null default now()
);

create table public.order_items (
  order_id bigint not null references public.orders (id) on delete cascade,
  line int not null,
  product_id bigint not null references public.products (id),
  quantity int not null,
  unit_price numeric(10, 2) not null,
  primary key (order_id, line)
);

create table public.events (
  id bigint generated always as identity,
  at timestamptz not null,
  kind text not null,
  payload jsonb not null,
  primary key (id, at)
) partition by range (at);
create table public.events_2026_10 partition of public.events for values from ('2026-10-01') to ('2026-11-01');
create table public.events_2026_11 partition of public.events for values from ('2026-11-01') to ('2026-12-01');
create table public.events_2026_12 partition of public.events for values from ('2026-12-01') to ('2027-01-01');

create table public.page_views (
  viewed_at timestamptz not null default now(),
  path text not null,
  referrer text
);
`

/** Deterministic sample rows: `scale` customers, products and orders. */
export function sampleData(scale = 200): string {
  return /* sql */ `
insert into public.customers (email, name, country)
  select 'customer' || g || '@example.com', 'Customer ' || g, (array['DE','FR','US','JP','BR'])[1 + g % 5]
  from generate_series(1, ${scale}) g;

insert into public.products (sku, title, price, description, tags)
  select 'SKU-' || lpad(g::text, 5, '0'), 'Product ' || g, (g % 97) + 0.99,
         -- ~8 kB of hex that does not compress below the TOAST threshold: stored out of line
         'Product ' || g || ': ' || (select string_agg(md5(g::text || '-' || i::text), ' ') from generate_series(1, 250) i),
         array['demo', 'tag' || (g % 7)]
  from generate_series(1, ${Math.max(10, Math.floor(scale / 4))}) g;

insert into public.orders (customer_id, status, total, ordered_at)
  select 1 + g % ${scale}, (array['new','paid','shipped'])[1 + g % 3], 0, timestamptz '2026-11-01' + g * interval '7 minutes'
  from generate_series(1, ${scale * 2}) g;

insert into public.order_items (order_id, line, product_id, quantity, unit_price)
  select o.id, l, 1 + (o.id * l) % ${Math.max(10, Math.floor(scale / 4))}, 1 + l, 9.99
  from public.orders o, generate_series(1, 3) l;

update public.orders o set total = s.sum from (
  select order_id, sum(quantity * unit_price) as sum from public.order_items group by order_id) s
  where s.order_id = o.id;

insert into public.events (at, kind, payload)
  select timestamptz '2026-10-01' + g * interval '13 minutes', (array['click','view','buy'])[1 + g % 3],
         jsonb_build_object('n', g, 'ok', g % 2 = 0)
  from generate_series(1, ${Math.min(scale * 5, 10_000)}) g;

insert into public.page_views (viewed_at, path, referrer)
  select timestamptz '2026-11-01' + g * interval '1 minute', '/p/' || (g % 50), case when g % 3 = 0 then null else 'search' end
  from generate_series(1, ${scale * 3}) g;
`
}
