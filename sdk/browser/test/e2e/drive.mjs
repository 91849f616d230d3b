// Drives the browser SDK in Chromium against a running gateway, for tests/e2e/test_browser_sdk.py.
//
//   GATEWAY_URL=http://127.0.0.1:8080 API_KEY=... [RUN_ID=abc] node test/e2e/drive.mjs
//
// Serves a test page from its own 127.0.0.1 port, so the bundle (loaded from the gateway's
// /static/analytics.js) and every /batch/ request are cross-origin. Walks the identity
// scenario and prints one JSON line with the ids it saw and what went over the wire; the
// pytest side checks ClickHouse against it.
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import { chromium } from 'playwright-core';

const GATEWAY_URL = required('GATEWAY_URL').replace(/\/+$/, '');
const API_KEY = required('API_KEY');
const RUN = process.env.RUN_ID || randomBytes(6).toString('hex');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run',
];
// Long enough that nothing goes out on the timer: each step sends through flush() or page hide.
const FLUSH_INTERVAL_MS = 10000;
// Time offline across several would-be send attempts, and time allowed for a late duplicate.
const OFFLINE_MS = 1500;
const SETTLE_MS = 1000;

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

function pageHtml() {
  const options = { host: GATEWAY_URL, flushIntervalMs: FLUSH_INTERVAL_MS };
  return `<!doctype html><meta charset="utf-8"><title>browser sdk e2e</title>
<script src="${GATEWAY_URL}/static/analytics.js"></script>
<script>analytics.init(${JSON.stringify(API_KEY)}, ${JSON.stringify(options)});</script>`;
}

function servePage() {
  const server = createServer((req, res) => {
    if (req.url !== '/') return res.writeHead(404).end();
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end(pageHtml());
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** Every /batch/ request the page makes: which event uuids it carried and how it ended. */
function watchWire(page) {
  const wire = { requests: [], offline: false };
  const isBatch = (request) => request.method() === 'POST' && request.url().startsWith(`${GATEWAY_URL}/batch/`);
  const eventsOf = (request) => {
    try {
      return JSON.parse(request.postData() ?? '{}').batch ?? [];
    } catch {
      return [];
    }
  };
  page.on('request', (request) => {
    if (!isBatch(request)) return;
    const entry = { events: eventsOf(request).map((e) => ({ uuid: e.uuid, event: e.event })), status: null, whileOffline: wire.offline };
    wire.requests.push(entry);
    // Resolves null when the request failed (offline, CORS, connection refused).
    request.response().then((response) => { entry.status = response ? response.status() : 0; }, () => { entry.status = 0; });
  });
  return wire;
}

async function scenario(page, context, wire, pageUrl) {
  const ids = () => page.evaluate(() => ({ distinctId: analytics.getDistinctId(), deviceId: analytics.getDeviceId() }));
  const run = (fn, ...args) => page.evaluate(fn, args);
  const out = { run: RUN, user: `user_${RUN}`, email: `${RUN}@example.com`, alias: `alias_${RUN}` };

  // 1. Anonymous pageviews.
  await page.goto(pageUrl);
  if (!(await run(() => typeof window.analytics?.init === 'function'))) {
    throw new Error(`no analytics object: is ${GATEWAY_URL}/static/analytics.js served? (make sdk-build)`);
  }
  const anon = await ids();
  out.anon1 = anon.distinctId;
  out.device1 = anon.deviceId;
  await run(([r]) => {
    analytics.capture('$pageview', { run: r, step: 'anonymous' });
    analytics.capture('$pageview', { run: r, step: 'anonymous' });
    return analytics.flush();
  }, RUN);

  // 2. Queued events leave on page hide (sendBeacon); ids survive the reload.
  await run(([r]) => analytics.capture('unload_event', { run: r }), RUN);
  await page.reload();
  out.afterReload = await ids();
  await run(([r]) => { analytics.capture('$pageview', { run: r, step: 'reloaded' }); return analytics.flush(); }, RUN);

  // 3. Identify, then two refused calls (placeholder; same id again) that must send nothing.
  await run(([r, user, email]) => {
    analytics.identify(user, { email, plan: 'pro', run: r }, { first_seen_source: 'pricing_page' });
    analytics.identify('anonymous');
    analytics.identify(user);
    return analytics.flush();
  }, RUN, out.user, out.email);
  out.identified = await ids();

  // 4. $set overwrites, $set_once does not.
  await run(() => {
    analytics.setPersonProperties({ plan: 'enterprise' });
    analytics.setPersonProperties({}, { first_seen_source: 'invite' });
    return analytics.flush();
  });

  // 5. Alias onto the identified user.
  await run(([alias]) => { analytics.alias(alias); return analytics.flush(); }, out.alias);
  await run(([r]) => { analytics.capture('identified_event', { run: r }); return analytics.flush(); }, RUN);

  // 6. A reload keeps the identified id.
  await page.reload();
  out.identifiedAfterReload = await ids();

  // 7. reset() keeps the device; reset(true) replaces it.
  out.afterReset = await run(([r]) => {
    analytics.reset();
    analytics.capture('after_reset', { run: r });
    return { distinctId: analytics.getDistinctId(), deviceId: analytics.getDeviceId() };
  }, RUN);
  out.afterResetDevice = await run(([r]) => {
    analytics.reset(true);
    analytics.capture('after_reset_device', { run: r });
    return { distinctId: analytics.getDistinctId(), deviceId: analytics.getDeviceId() };
  }, RUN);
  out.flushResolved = await run(() => analytics.flush().then(() => true));

  // 8. Offline: events are held, then delivered once when the browser is back online.
  wire.offline = true;
  await context.setOffline(true);
  out.onLineWhileOffline = await run(() => navigator.onLine);
  await run(([r]) => {
    for (let i = 0; i < 3; i++) analytics.capture('offline_event', { run: r, i });
    window.offlineFlush = analytics.flush().then(() => true);
  }, RUN);
  await page.waitForTimeout(OFFLINE_MS);
  wire.offline = false;
  await context.setOffline(false);
  out.offlineFlushResolved = await run(() => window.offlineFlush);
  await page.waitForTimeout(SETTLE_MS);
  return out;
}

function summarizeWire(wire) {
  const delivered = {}; // uuid -> { event, times } over requests answered 2xx
  for (const { events, status } of wire.requests) {
    if (!(status >= 200 && status < 300)) continue;
    for (const { uuid, event } of events) {
      delivered[uuid] ??= { event, times: 0 };
      delivered[uuid].times += 1;
    }
  }
  const byEvent = {};
  for (const { event, times } of Object.values(delivered)) {
    byEvent[event] ??= { uuids: 0, deliveries: 0 };
    byEvent[event].uuids += 1;
    byEvent[event].deliveries += times;
  }
  return {
    requests: wire.requests.length,
    requestsWhileOffline: wire.requests.filter((r) => r.whileOffline).length,
    statuses: wire.requests.map((r) => r.status),
    byEvent,
  };
}

async function main() {
  const server = await servePage();
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
  try {
    const context = await browser.newContext();
    const page = await context.newPage();
    const warnings = [];
    const pageErrors = [];
    page.on('console', (message) => message.type() === 'warning' && warnings.push(message.text()));
    page.on('pageerror', (error) => pageErrors.push(String(error)));
    const wire = watchWire(page);
    const pageUrl = `http://127.0.0.1:${server.address().port}/`;
    const out = await scenario(page, context, wire, pageUrl);
    out.warnings = warnings;
    out.pageErrors = pageErrors;
    out.wire = summarizeWire(wire);
    console.log(JSON.stringify(out));
  } finally {
    await browser.close();
    server.close();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
