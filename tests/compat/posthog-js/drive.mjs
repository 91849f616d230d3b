// Drives the unmodified posthog-js browser SDK in Chromium against a running gateway, for
// tests/e2e/test_posthog_js.py.
//
//   GATEWAY_URL=http://127.0.0.1:8080 API_KEY=... [RUN_ID=abc] [POSTHOG_DEBUG=1] node drive.mjs
//
// Serves test pages from its own 127.0.0.1 port that load posthog-js's standard snippet bundle
// (dist/array.js, the file PostHog's CDN serves) from node_modules, so every call to the
// gateway is cross-origin, as on a customer's site. Nothing comes from the internet: a request
// to any host but the page's and the gateway's is reported in `foreignRequests`.
//
// Phase "always" (person_profiles: 'always', gzip, remote config as JSON): capture, identify,
//   capture, alias, setPersonProperties; then a capture that leaves with the page (pagehide:
//   $pageleave, and the queue flushed by sendBeacon).
// Phase "identified_only" (the default person_profiles, disable_compression, remote config
//   as a script): an anonymous capture, identify, capture, and a page leave again.
// Prints one JSON line: the ids, and every request the browser made to the gateway (path,
// status, content type, body encoding, the events it carried).
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { chromium } from 'playwright-core';

const GATEWAY_URL = required('GATEWAY_URL').replace(/\/+$/, '');
const API_KEY = required('API_KEY');
const RUN = process.env.RUN_ID || randomBytes(6).toString('hex');
const DEBUG = Boolean(process.env.POSTHOG_DEBUG);
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run',
  // posthog-js drops every event of a browser it takes for a bot: one whose navigator.webdriver
  // is true (any automated Chromium) or whose user agent says HeadlessChrome (see launch()).
  '--disable-blink-features=AutomationControlled',
];
// posthog-js flushes its queue every 3 s, and retries back off from 3 s. Generous for a loaded
// 2-core machine, and only spent when something is wrong.
const DELIVERY_TIMEOUT_MS = 45000;

const require = createRequire(import.meta.url);
const POSTHOG_DIR = dirname(require.resolve('posthog-js/package.json'));
const POSTHOG_VERSION = JSON.parse(readFileSync(join(POSTHOG_DIR, 'package.json'), 'utf8')).version;
const POSTHOG_BUNDLE = readFileSync(join(POSTHOG_DIR, 'dist', 'array.js'));

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

// Everything that records more than events, or loads scripts from PostHog's CDN, is off.
const BASE_OPTIONS = {
  disable_session_recording: true,
  autocapture: false,
  capture_dead_clicks: false,
  capture_heatmaps: false,
  capture_exceptions: false,
  capture_performance: false,
  disable_surveys: true,
  disable_product_tours: true,
  disable_conversations: true,
  disable_web_experiments: true,
  advanced_disable_toolbar_metrics: true,
  opt_in_site_apps: false,
};

const PAGES = {
  // No external scripts at all: remote config comes from /array/<token>/config (JSON).
  '/always': { person_profiles: 'always', disable_external_dependency_loading: true },
  // Defaults otherwise: remote config loads as the script /array/<token>/config.js; events
  // go as plain JSON, and the page-leave beacon as a base64 form.
  '/default': { disable_compression: true },
};

function pageHtml(options) {
  const config = { api_host: GATEWAY_URL, ...BASE_OPTIONS, ...options, debug: DEBUG };
  return `<!doctype html><meta charset="utf-8"><title>posthog-js compat</title>
<script src="/posthog.js"></script>
<script>
window.__phLoaded = new Promise((resolve) => {
  posthog.init(${JSON.stringify(API_KEY)}, Object.assign(${JSON.stringify(config)}, { loaded: resolve }));
});
</script>`;
}

function servePage() {
  const server = createServer((req, res) => {
    const { pathname } = new URL(req.url, 'http://page');
    if (pathname === '/posthog.js') {
      res.writeHead(200, { 'Content-Type': 'application/javascript', 'Cache-Control': 'no-store' });
      return res.end(POSTHOG_BUNDLE);
    }
    if (pathname === '/favicon.ico') return res.writeHead(204).end();
    const html = pathname === '/bye' ? '<!doctype html><title>bye</title>'
      : PAGES[pathname] && pageHtml(PAGES[pathname]);
    if (!html) return res.writeHead(404).end();
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end(html);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** The events a capture body carries, whatever its encoding (gzip, base64 form, JSON). */
function decodeCapture(buffer, contentType) {
  if (!buffer || buffer.length === 0) return { encoding: 'empty', events: [] };
  let bytes = buffer;
  let encoding = 'json';
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    bytes = gunzipSync(bytes);
    encoding = 'gzip';
  } else if ((contentType || '').startsWith('application/x-www-form-urlencoded')) {
    bytes = Buffer.from(new URLSearchParams(bytes.toString('latin1')).get('data') || '', 'base64');
    encoding = 'form-base64';
  }
  let body;
  try {
    body = JSON.parse(bytes.toString('utf8'));
  } catch {
    return { encoding: `${encoding}-unparsed`, events: [] };
  }
  const events = Array.isArray(body) ? body : body.batch ?? (body.event ? [body] : []);
  return {
    encoding,
    shape: Array.isArray(body) ? 'array' : body.batch ? 'batch' : 'single',
    events: events.map((e) => ({
      event: e.event,
      uuid: e.uuid,
      distinct_id: e.distinct_id ?? e.properties?.distinct_id,
      lib: e.properties?.$lib,
      process_person_profile: e.properties?.$process_person_profile,
    })),
  };
}

/** Every request the browser makes: the gateway's in detail, any other host's by URL. */
function watchNetwork(context, pageOrigin) {
  const wire = { gateway: [], foreign: [] };
  context.on('request', async (request) => {
    const url = new URL(request.url());
    if (url.origin === pageOrigin || url.protocol === 'data:' || url.protocol === 'about:') return;
    if (!request.url().startsWith(`${GATEWAY_URL}/`)) {
      wire.foreign.push(request.url());
      return;
    }
    const entry = {
      method: request.method(),
      path: url.pathname,
      query: url.search,
      type: request.resourceType(),
      status: null,
    };
    wire.gateway.push(entry);
    request.response().then(
      (response) => {
        entry.status = response ? response.status() : 0;
        if (response) entry.allowOrigin = response.headers()['access-control-allow-origin'] ?? null;
      },
      () => { entry.status = 0; },
    );
    const headers = await request.allHeaders().catch(() => request.headers());
    entry.contentType = headers['content-type'] ?? null;
    if (entry.method === 'POST' && !/^\/(flags|decide)\/?$/.test(url.pathname)) {
      Object.assign(entry, decodeCapture(request.postDataBuffer(), entry.contentType));
    }
  });
  context.on('requestfailed', (request) => {
    const url = new URL(request.url());
    const entry = wire.gateway.find((e) => e.path === url.pathname && e.query === url.search && !e.status);
    if (entry) {
      entry.status = 0;
      entry.failure = request.failure()?.errorText ?? 'failed';
    }
  });
  return wire;
}

/** Resolves once every [event, distinct id] went out in a request the gateway answered 2xx. */
async function delivered(wire, expected, label) {
  const deadline = Date.now() + DELIVERY_TIMEOUT_MS;
  for (;;) {
    const seen = new Set();
    for (const entry of wire.gateway) {
      if (!(entry.status >= 200 && entry.status < 300)) continue;
      for (const e of entry.events ?? []) seen.add(`${e.event}@${e.distinct_id}`);
    }
    const missing = expected.filter(([event, id]) => !seen.has(`${event}@${id}`));
    if (missing.length === 0) return;
    if (Date.now() > deadline) {
      throw new Error(`${label}: not delivered in ${DELIVERY_TIMEOUT_MS} ms: ${JSON.stringify(missing)}\n`
        + `requests: ${JSON.stringify(wire.gateway)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** The gateway's Prometheus counters: capture requests answered, by status; events accepted. */
async function gatewayCounters() {
  const text = await (await fetch(`${GATEWAY_URL}/metrics`)).text();
  const counters = { statuses: {}, events: 0 };
  for (const [, status, value] of text.matchAll(/^pa_gateway_requests_total\{status="(\d+)"\} (\S+)$/gm)) {
    counters.statuses[status] = Number(value);
  }
  const accepted = text.match(/^pa_gateway_events_accepted_total (\S+)$/m);
  counters.events = accepted ? Number(accepted[1]) : 0;
  return counters;
}

/**
 * Waits until the gateway accepted `events` more events than at `before`; the statuses of
 * the capture requests it answered since.
 */
async function statusesSince(before, events) {
  const deadline = Date.now() + DELIVERY_TIMEOUT_MS;
  for (;;) {
    const now = await gatewayCounters();
    const delta = {};
    for (const [status, n] of Object.entries(now.statuses)) {
      if (n > (before.statuses[status] ?? 0)) delta[status] = n - (before.statuses[status] ?? 0);
    }
    if (now.events - before.events >= events) return delta;
    if (Date.now() > deadline) {
      throw new Error(`the gateway accepted ${now.events - before.events} of ${events} events `
        + `in ${DELIVERY_TIMEOUT_MS} ms; capture requests answered since: ${JSON.stringify(delta)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function openPage(browser, pageUrl, diagnostics) {
  const context = await browser.newContext();
  const wire = watchNetwork(context, new URL(pageUrl).origin);
  const page = await context.newPage();
  page.on('pageerror', (error) => diagnostics.pageErrors.push(String(error)));
  page.on('console', (message) => {
    if (DEBUG) console.error(`[${message.type()}] ${message.text()}`);
    if (message.type() === 'error' || message.type() === 'warning') {
      diagnostics.console.push(`${message.type()}: ${message.text()}`);
    }
  });
  await page.goto(pageUrl);
  await page.evaluate(() => window.__phLoaded);
  const call = (fn, ...args) => page.evaluate(fn, args);
  return { context, page, wire, call };
}

/**
 * Captures `event` and navigates away at once, so it leaves with the page: posthog-js captures
 * $pageleave on pagehide and flushes its queue with navigator.sendBeacon. Playwright does not
 * report a request sent by a page that is going away, so the answer is read from the gateway's
 * counters (events accepted; capture requests by status); the test finds both in ClickHouse.
 */
async function leavePage({ context, page, call }, origin, event) {
  const before = await gatewayCounters();
  await call(([name, r]) => posthog.capture(name, { run: r }), event, RUN);
  await page.goto(`${origin}/bye`);
  const statuses = await statusesSince(before, 2); // the event and $pageleave
  await context.close();
  return statuses;
}

async function phaseAlways(browser, origin, out, diagnostics) {
  const tab = await openPage(browser, `${origin}/always`, diagnostics);
  const { call, wire } = tab;
  out.anon = await call(() => posthog.get_distinct_id());
  out.device = await call(() => posthog.get_property('$device_id'));
  await call(([r, user, email, alias]) => {
    posthog.capture('compat_custom_event', { run: r, step: 'anonymous' });
    posthog.identify(user, { email }, { first_source: 'posthog-js-compat' });
    posthog.capture('after_identify', { run: r });
    posthog.alias(alias);
    posthog.setPersonProperties({ plan: 'pro' });
  }, RUN, out.user, out.email, out.alias);
  out.identified = await call(() => posthog.get_distinct_id());
  await delivered(wire, [
    ['compat_custom_event', out.anon], ['$identify', out.user], ['after_identify', out.user],
    ['$create_alias', out.user], ['$set', out.user],
  ], 'always');
  out.unloadStatuses = await leavePage(tab, origin, 'before_unload');
  return wire;
}

async function phaseIdentifiedOnly(browser, origin, out, diagnostics) {
  const tab = await openPage(browser, `${origin}/default`, diagnostics);
  const { call, wire } = tab;
  const io = { user: `phjs_io_user_${RUN}`, email: `phjs_io_${RUN}@example.com` };
  io.anon = await call(() => posthog.get_distinct_id());
  io.personProfiles = await call(() => posthog.config.person_profiles);
  await call(([r, user, email]) => {
    posthog.capture('io_anonymous_event', { run: r });
    posthog.identify(user, { email });
    posthog.capture('io_after_identify', { run: r });
  }, RUN, io.user, io.email);
  io.identified = await call(() => posthog.get_distinct_id());
  await delivered(wire, [
    ['io_anonymous_event', io.anon], ['$identify', io.user], ['io_after_identify', io.user],
  ], 'identified_only');
  io.unloadStatuses = await leavePage(tab, origin, 'io_before_unload');
  out.identifiedOnly = io;
  return wire;
}

/**
 * Chromium whose user agent reads "Chrome/…", not "HeadlessChrome/…", so posthog-js does not
 * take it for a bot. Set on the command line: a per-context override (newContext({userAgent}))
 * is not in force while a page unloads, and $pageleave, captured on pagehide, was dropped.
 */
async function launch() {
  const options = { executablePath: CHROMIUM, headless: true };
  const probe = await chromium.launch({ ...options, args: CHROMIUM_ARGS });
  const cdp = await probe.newBrowserCDPSession();
  const { userAgent } = await cdp.send('Browser.getVersion');
  await probe.close();
  const args = [...CHROMIUM_ARGS, `--user-agent=${userAgent.replace('HeadlessChrome', 'Chrome')}`];
  return chromium.launch({ ...options, args });
}

async function main() {
  const server = await servePage();
  const origin = `http://127.0.0.1:${server.address().port}`;
  const started = Date.now();
  const browser = await launch();
  try {
    const out = {
      run: RUN,
      posthogJsVersion: POSTHOG_VERSION,
      user: `phjs_user_${RUN}`,
      alias: `phjs_alias_${RUN}`,
      email: `phjs_${RUN}@example.com`,
    };
    const diagnostics = { pageErrors: [], console: [] };
    const countersBefore = await gatewayCounters();
    const wires = {
      always: await phaseAlways(browser, origin, out, diagnostics),
      identified_only: await phaseIdentifiedOnly(browser, origin, out, diagnostics),
    };
    out.requests = Object.entries(wires).flatMap(([phase, w]) => w.gateway.map((r) => ({ phase, ...r })));
    out.foreignRequests = Object.values(wires).flatMap((w) => w.foreign);
    out.gatewayStatuses = await statusesSince(countersBefore, 0);
    out.pageErrors = diagnostics.pageErrors;
    out.console = diagnostics.console;
    out.elapsedMs = Date.now() - started;
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
