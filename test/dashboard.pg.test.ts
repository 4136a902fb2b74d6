/**
 * The dashboard in a real browser (Debian's headless Chromium driven by playwright-core): while a
 * workload streams into two sources, the page shows a table through its snapshot to streaming,
 * row counts and lag changing, live charts, a refresh clicked and seen to run and finish, a query,
 * doctor's fixes; a wrong token, a foreign origin and a foreign Host are refused; no console
 * errors; usable at phone width and by keyboard. Then `inlet ui` serves the same page read-only
 * with no run, and through the run's socket while one streams. Screenshots of each page go to
 * test-output/dashboard/.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import pg from 'pg'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import type { EmbeddedPostgres } from '../src/embedded/postgres-server.js'
import { assertEqualTables } from './support/compare.js'
import { createDatabase, PROJECT_ROOT, runCli, sql, startServer, testMajors } from './support/servers.js'

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p) => existsSync(p))
const REQUIRED = process.env.INLET_TEST_REQUIRE_CHROMIUM === '1'
const SHOTS = join(PROJECT_ROOT, 'test-output', 'dashboard')
const major = testMajors().at(-1) ?? 18

/** Starts the CLI and resolves with the dashboard address it logs (the line with `match`). */
function startCli(args: readonly string[], match: RegExp): Promise<{ child: ChildProcess; url: string; log: () => string }> {
  const child = spawn(process.execPath, [join(PROJECT_ROOT, 'bin', 'inlet.js'), ...args], { cwd: PROJECT_ROOT, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] })
  let text = ''
  return new Promise((resolveStart, reject) => {
    const timer = setTimeout(() => reject(new Error(`no dashboard address within 60 s:\n${text}`)), 60_000)
    const onData = (d: string) => {
      text += d
      const url = match.exec(text)?.[1]
      if (url !== undefined) {
        clearTimeout(timer)
        resolveStart({ child, url, log: () => text })
      }
    }
    child.stdout?.setEncoding('utf8').on('data', onData)
    child.stderr?.setEncoding('utf8').on('data', onData)
    child.on('close', (code) => reject(new Error(`inlet exited (${code}) before serving the dashboard:\n${text}`)))
  })
}

function stop(child: ChildProcess): Promise<number | null> {
  return new Promise((r) => {
    if (child.exitCode !== null) return r(child.exitCode)
    child.once('close', (code) => r(code))
    child.kill('SIGTERM')
  })
}

/** A raw request, for what a browser would not send (another Host, no Origin). */
function raw(url: string, options: { method?: string; headers?: Record<string, string>; body?: string }): Promise<{ status: number; body: string }> {
  return new Promise((resolveRaw, reject) => {
    const req = request(url, { method: options.method ?? 'GET', headers: options.headers ?? {} }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (d: string) => (body += d))
      res.on('end', () => resolveRaw({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', reject)
    req.end(options.body)
  })
}

/** Polls the page until `read` returns something truthy; returns it. */
async function until<T>(page: Page, what: string, read: () => Promise<T>, timeoutMs = 30_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await read()
    if (value) return value as NonNullable<T>
    if (Date.now() > deadline) {
      await page.screenshot({ path: join(SHOTS, `failed-${what.replace(/\W+/g, '-')}.png`), fullPage: true }).catch(() => undefined)
      throw new Error(`timed out waiting for ${what}; the page shows:\n${(await page.locator('main').innerText().catch(() => '?')).slice(0, 2000)}`)
    }
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** A laptop-sized page whose console errors and page errors the test collects. */
async function openPage(browser: Browser): Promise<{ context: BrowserContext; page: Page; problems: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
  const page = await context.newPage()
  const problems: string[] = []
  page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`))
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`))
  return { context, page, problems }
}

const text = (page: Page, selector: string) => page.locator(selector).first().innerText({ timeout: 1000 }).catch(() => '')

describe(`dashboard in a real browser (PostgreSQL ${major})`, { skip: CHROMIUM === undefined && !REQUIRED ? 'no Chromium (apt-get install chromium)' : false }, () => {
  let server: EmbeddedPostgres
  let browser: Browser
  let dir: string
  let config: string
  let destination: string
  const workload = { stop: false, done: Promise.resolve() }

  before(async () => {
    if (CHROMIUM === undefined) throw new Error('INLET_TEST_REQUIRE_CHROMIUM=1 but no Chromium: apt-get install chromium')
    mkdirSync(SHOTS, { recursive: true })
    dir = mkdtempSync(join(tmpdir(), 'inlet-ui-'))
    destination = join(dir, 'lake.duckdb')
    // A finite max_slot_wal_keep_size: the slot's room before invalidation, and its forecast, show.
    server = await startServer(major, { max_slot_wal_keep_size: '1GB' })
    // orders is large enough that its snapshot lasts a few seconds on a 2-core machine.
    await createDatabase(server, 'shop', `
      create table customers (id serial primary key, name text not null, city text);
      insert into customers (name, city) select 'customer ' || g, (array['Lyon','Porto','Graz'])[1 + g % 3] from generate_series(1, 500) g;
      create table orders (id bigint primary key, customer_id int, amount numeric(12,2), note text, placed_at timestamptz);
      insert into orders select g, 1 + g % 500, (g % 10000) / 100.0, md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text), now() - g * interval '1 minute' from generate_series(1, 400000) g;
      create publication inlet_pub for table customers, orders;`)
    await createDatabase(server, 'crm', `
      create table contacts (id serial primary key, email text not null, tags text[]);
      insert into contacts (email, tags) select 'c' || g || '@example.com', array['a', 'b'] from generate_series(1, 200) g;
      create publication inlet_pub for table contacts;`)
    config = join(dir, 'inlet.yaml')
    writeFileSync(config, `sources:\n  - name: shop\n    url: ${server.url('shop')}\n  - name: crm\n    url: ${server.url('crm')}\ndestination: duckdb:${destination}\ncommit_interval_seconds: 0.2\n`)
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] })
  })

  after(async () => {
    workload.stop = true
    await workload.done
    await browser?.close()
    await server?.stop()
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  })

  function startWorkload(): void {
    workload.stop = false
    workload.done = (async () => {
      const shop = new pg.Client(server.url('shop'))
      const crm = new pg.Client(server.url('crm'))
      await shop.connect()
      await crm.connect()
      try {
        for (let i = 0; !workload.stop; i++) {
          await shop.query(`insert into customers (name, city) values ($1, 'Oslo')`, [`new ${i}`])
          await shop.query(`update customers set city = $1 where id = $2`, [`city ${i}`, 1 + (i % 400)])
          await crm.query(`insert into contacts (email) values ($1)`, [`n${i}@example.com`])
          if (i % 10 === 0) await crm.query(`delete from contacts where id = (select min(id) from contacts)`)
          await new Promise((r) => setTimeout(r, 50))
        }
      } finally {
        await shop.end()
        await crm.end()
      }
    })()
  }

  test('inlet run --ui: live figures, snapshot to streaming, refresh, query, doctor, refusals, no console errors', async () => {
    const run = await startCli(['run', '--config', config, '--ui', '127.0.0.1:0', '--json'], /Dashboard: (http:\/\/[^"\s]+)/)
    const base = new URL(run.url)
    const origin = `${base.protocol}//${base.host}`
    const token = base.searchParams.get('token') ?? ''
    assert.ok(token.length >= 30, 'a random token of at least 180 bits')
    const { context, page, problems } = await openPage(browser)
    // Requests cut by the test's own reloads (ERR_ABORTED) are not the page's failures.
    page.on('requestfailed', (r) => !r.url().endsWith('/api/events') && r.failure()?.errorText !== 'net::ERR_ABORTED' && problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`))
    try {
      await page.goto(run.url)
      assert.equal(new URL(page.url()).search, '', 'the token leaves the address bar')
      // Follow orders through its snapshot: seen copying (with progress), then streaming.
      await page.goto(`${origin}/#/tables`)
      const orders = '[data-table="shop:public.orders"]'
      const phases = new Set<string>()
      let sawProgress = false
      await until(page, 'orders streaming', async () => {
        const phase = await page.locator(`${orders} [data-phase]`).first().getAttribute('data-phase', { timeout: 1000 }).catch(() => null)
        if (phase !== null) phases.add(phase)
        if (phase === 'snapshot' && (await page.locator(`${orders} progress`).count()) > 0) sawProgress = true
        return phase === 'streaming'
      }, 90_000)
      assert.ok(phases.has('snapshot'), `orders was seen copying (phases seen: ${[...phases].join(', ')})`)
      assert.ok(sawProgress, 'with a progress bar while it copied')
      await page.screenshot({ path: join(SHOTS, 'tables.png'), fullPage: true })

      startWorkload()
      // Row counts and changes applied move without a reload.
      const rows = async () => (await text(page, '[data-table="shop:public.customers"] [data-field="rows"]')).replace(/,/g, '')
      const first = Number(await until(page, 'customers rows', rows))
      await until(page, 'customers rows to grow', async () => Number(await rows()) > first + 5)
      await until(page, 'changes applied to crm', async () => /^[1-9]/.test(await text(page, '[data-table="crm:public.contacts"] [data-field="applied"]')))

      // Overview: both sources, three charts each, lag and rate changing.
      await page.goto(`${origin}/#/`)
      await page.waitForSelector('section[data-source="shop"] .uplot')
      await page.waitForSelector('section[data-source="crm"] .uplot')
      assert.equal(await page.locator('section[data-source="shop"] .uplot').count(), 4)
      const seen = new Set<string>()
      await until(page, 'the lag figure to change', async () => {
        seen.add(`${await text(page, 'section[data-source="shop"] [data-field="lag"]')}|${await text(page, 'section[data-source="shop"] [data-field="checkpoint"]')}`)
        return seen.size >= 3
      })
      await until(page, 'a rate of changes', async () => /^[1-9]/.test(await text(page, 'section[data-source="shop"] [data-field="rate"]')))
      assert.match(await text(page, 'section[data-source="shop"] .slot'), /retains \d.* before invalidation/)
      assert.ok(Number(await page.evaluate('document.documentElement.scrollWidth - window.innerWidth')) <= 0, 'the overview fits a laptop screen')
      await page.screenshot({ path: join(SHOTS, 'overview.png'), fullPage: true })

      // A schema change shows in the table's history; the column mapping names both types.
      await sql(server, 'shop', `alter table customers add column vip boolean default false`)
      await page.goto(`${origin}/#/table/shop/public.customers`)
      await until(page, 'the schema change in the history', async () => {
        await page.reload()
        return /added vip/.test(await text(page, 'main'))
      })
      const mapping = await text(page, 'main')
      assert.match(mapping, /name\s+text\s+VARCHAR/)
      assert.match(mapping, /id\s+integer\s+INTEGER\s+key/)

      // Refresh orders from its page: seen refreshing (a 400k-row copy takes about a second here),
      // then streaming again; the button says the request was taken.
      await page.goto(`${origin}/#/table/shop/public.orders`)
      await until(page, 'the refresh button', async () => (await page.locator('button[data-action="refresh"]:not([disabled])').count()) > 0)
      assert.match(await text(page, 'main'), /amount\s+numeric\(12,2\)\s+DECIMAL\(12,2\)/)
      await page.click('button[data-action="refresh"]')
      const during = new Set<string>()
      await until(page, 'orders refreshing, then streaming', async () => {
        const p = await page.locator('h1 [data-phase]').first().getAttribute('data-phase', { timeout: 1000 }).catch(() => null)
        if (p !== null) during.add(p)
        return during.has('refreshing') && p === 'streaming'
      }, 90_000)
      assert.match(run.log(), /"event":"refresh\.done"[^\n]*"table":"public\.orders","rows":400000/)
      await page.screenshot({ path: join(SHOTS, 'table.png'), fullPage: true })

      // Query: a result, paging, and a write refused.
      await page.goto(`${origin}/#/query`)
      await page.fill('#sql', 'SELECT count(*) AS n FROM shop.orders')
      await page.click('#query-form button[type="submit"]')
      await until(page, 'the count', async () => (await text(page, '#query-result tbody td')).replace(/\D/g, '') === '400000')
      await page.fill('#sql', 'SELECT range AS i FROM range(120)')
      await page.locator('#sql').press('Control+Enter')
      await until(page, 'three pages', async () => /page 1 of 3/.test(await text(page, '#query-result')))
      await page.click('button[data-action="page"]:has-text("Next")')
      assert.match(await text(page, '#query-result'), /page 2 of 3/)
      assert.equal(await text(page, '#query-result tbody tr td'), '50')
      await page.screenshot({ path: join(SHOTS, 'query.png'), fullPage: true })
      await page.fill('#sql', 'DELETE FROM shop.orders')
      await page.click('#query-form button[type="submit"]')
      await until(page, 'the write refused', async () => /INLET-D005/.test(await text(page, '#query-result')))

      // Doctor: findings per source with fix SQL and a copy button.
      await page.goto(`${origin}/#/doctor`)
      await until(page, 'doctor findings', async () => (await page.locator('li.finding').count()) > 5, 60_000)
      assert.ok((await page.locator('section.card h2').allInnerTexts()).some((h) => h.startsWith('crm')))
      const copy = page.locator('button[data-action="copy"]').first()
      if ((await copy.count()) > 0) {
        await copy.click()
        await until(page, 'copied', async () => /Copied|Selected/.test(await copy.innerText()))
      }
      await page.screenshot({ path: join(SHOTS, 'doctor.png'), fullPage: true })

      // Keyboard: from the top, Tab reaches the navigation and Enter follows it.
      await page.goto(`${origin}/#/`)
      await page.waitForSelector('section[data-source="shop"]')
      let reached = false
      for (let i = 0; i < 6 && !reached; i++) {
        await page.keyboard.press('Tab')
        reached = (await page.evaluate('document.activeElement?.textContent')) === 'Tables'
      }
      assert.ok(reached, 'Tab reaches the Tables link')
      await page.keyboard.press('Enter')
      await until(page, 'the tables page by keyboard', async () => page.url().endsWith('#/tables'))

      // Phone width: nothing wider than the screen.
      await page.setViewportSize({ width: 390, height: 844 })
      for (const view of ['#/', '#/tables', '#/table/shop/public.orders', '#/query']) {
        await page.goto(`${origin}/${view}`)
        await page.waitForTimeout(2500)
        const overflow = Number(await page.evaluate('document.documentElement.scrollWidth - window.innerWidth'))
        assert.ok(overflow <= 0, `${view} fits a phone (overflows by ${overflow}px)`)
      }
      await page.goto(`${origin}/#/`)
      await page.waitForSelector('section[data-source="shop"] .uplot')
      // Two slot checks (15 s apart) give the WAL rate behind the forecast.
      await until(page, 'the invalidation forecast', async () => /invalidated in ~\d/.test(await text(page, 'section[data-source="shop"] .slot')), 40_000)
      await page.screenshot({ path: join(SHOTS, 'overview-phone.png'), fullPage: true })

      // Refusals: wrong token, no token, another origin, another Host.
      const stranger = await browser.newContext()
      const strangerPage = await stranger.newPage()
      const wrong = await strangerPage.goto(`${origin}/?token=${token.slice(0, -2)}xx`)
      assert.equal(wrong?.status(), 401)
      assert.match(await strangerPage.innerText('body'), /token in this address is wrong/)
      const none = await strangerPage.goto(`${origin}/#/query`)
      assert.equal(none?.status(), 401)
      await stranger.close()
      assert.equal((await raw(`${origin}/api/overview`, {})).status, 401)
      assert.equal((await raw(`${origin}/api/overview`, { headers: { authorization: `Bearer ${token}x` } })).status, 401)
      assert.equal((await raw(`${origin}/api/overview`, { headers: { authorization: `Bearer ${token}` } })).status, 200)
      const post = (headers: Record<string, string>) => raw(`${origin}/api/refresh`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, ...headers }, body: JSON.stringify({ source: 'shop', table: 'public.orders' }) })
      assert.equal((await post({})).status, 403, 'a POST without Origin')
      assert.equal((await post({ origin: 'http://evil.example', 'x-inlet-token': token })).status, 403, 'a POST from another origin')
      assert.equal((await post({ origin, 'x-inlet-token': 'nope' })).status, 403, 'a POST without the page token')
      assert.equal((await raw(`${origin}/api/overview`, { headers: { host: `evil.example:${base.port}`, authorization: `Bearer ${token}` } })).status, 421, 'another Host (DNS rebinding)')

      assert.deepEqual(problems, [], 'no console errors, page errors or failed requests')
      assert.doesNotMatch(run.log().replace(run.url, ''), new RegExp(token), 'the token is printed once, in the address')
    } finally {
      await context.close()
      workload.stop = true
      await workload.done
      assert.equal(await stop(run.child), 0, run.log())
    }
    // Stopped mid-stream: one more run catches up with what the workload wrote last.
    const catchUp = await runCli(['run', '--once', '--config', config])
    assert.equal(catchUp.code, 0, catchUp.stderr)
    await assertEqualTables(destination, [
      { sourceUrl: server.url('shop'), sourceTable: 'public.orders', destTable: 'shop.orders' },
      { sourceUrl: server.url('shop'), sourceTable: 'public.customers', destTable: 'shop.customers' },
      { sourceUrl: server.url('crm'), sourceTable: 'public.contacts', destTable: 'crm.contacts' },
    ])
  })

  test('inlet ui shows an Iceberg destination: its tables, rows and column mapping', async () => {
    const warehouse = join(dir, 'warehouse')
    const iceConfig = join(dir, 'iceberg.yaml')
    writeFileSync(iceConfig, `sources:\n  - name: crm\n    url: ${server.url('crm')}\n    slot: inlet_crm_iceberg\ndestination: "iceberg:file://${warehouse}"\n`)
    const copied = await runCli(['run', '--once', '--config', iceConfig])
    assert.equal(copied.code, 0, copied.stderr)
    // Its slot dropped behind its back: the next run stops with INLET-S006, kept as the source's last error.
    assert.equal((await runCli(['slots', 'drop', 'inlet_crm_iceberg', '--source', server.url('crm')])).code, 0)
    const lost = await runCli(['run', '--once', '--config', iceConfig])
    assert.notEqual(lost.code, 0)
    assert.match(lost.stderr, /INLET-S006/)
    const ui = await startCli(['ui', '--config', iceConfig, '--port', '0'], /Dashboard: (http:\/\/[^"\s]+)/)
    const { context, page, problems } = await openPage(browser)
    try {
      const origin = new URL(ui.url).origin
      await page.goto(ui.url)
      await page.goto(`${origin}/#/tables`)
      const expected = (await sql<{ n: string }>(server, 'crm', 'select count(*)::text as n from contacts'))[0]?.n
      await until(page, 'the Iceberg table with its rows', async () => (await text(page, '[data-table="crm:public.contacts"] [data-field="rows"]')).replace(/,/g, '') === expected)
      assert.match(await text(page, 'main'), /iceberg:file:/)
      await page.goto(`${origin}/#/`)
      await until(page, 'the last error with its code and fix', async () => /INLET-S006[\s\S]*fix: .*--resync/.test(await text(page, 'section[data-source="crm"] .error')))
      await page.screenshot({ path: join(SHOTS, 'iceberg-overview.png'), fullPage: true })
      await page.goto(`${origin}/#/table/crm/public.contacts`)
      await until(page, 'the column mapping', async () => /tags\s+text\[\]\s+list<string>/.test(await text(page, 'main')) && /id\s+integer\s+int\s+key/.test(await text(page, 'main')))
      await page.screenshot({ path: join(SHOTS, 'iceberg-table.png'), fullPage: true })
      assert.deepEqual(problems, [])
    } finally {
      await context.close()
      assert.equal(await stop(ui.child), 0, ui.log())
    }
  })

  test('inlet ui: read-only with no run, through the run while one streams', async () => {
    const ui = await startCli(['ui', '--config', config, '--port', '0'], /Dashboard: (http:\/\/[^"\s]+)/)
    const { context, page, problems } = await openPage(browser)
    let run: { child: ChildProcess } | undefined
    try {
      const origin = new URL(ui.url).origin
      await page.goto(ui.url)
      await until(page, 'the read-only note', async () => /No inlet run holds/.test(await text(page, 'main')))
      await page.goto(`${origin}/#/table/shop/public.orders`)
      await until(page, 'a disabled refresh', async () => (await page.locator('button[data-action="refresh"][disabled]').count()) === 1)
      await page.screenshot({ path: join(SHOTS, 'read-only.png'), fullPage: true })

      run = await startCli(['run', '--config', config, '--json'], /"event":"(stream\.start)"/)
      await page.goto(`${origin}/#/`)
      await until(page, 'the run seen through its socket', async () => /inlet run PID \d+/.test(await text(page, 'main')), 60_000)
      await page.goto(`${origin}/#/table/shop/public.orders`)
      await until(page, 'refresh enabled through the run', async () => (await page.locator('button[data-action="refresh"]:not([disabled])').count()) === 1, 30_000)
      assert.deepEqual(problems, [])
    } finally {
      await context.close()
      if (run !== undefined) await stop(run.child)
      assert.equal(await stop(ui.child), 0, ui.log())
    }
  })
})
