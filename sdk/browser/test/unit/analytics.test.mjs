import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { createAnalytics } from '../../src/analytics.js';
import { VERSION } from '../../src/version.js';
import { countingBytes, fakeTimers } from './fakes.mjs';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const NOW = Date.UTC(2025, 5, 1, 12, 0, 0);

/** A fake browser: storage shared through `disk`, requests recorded, listeners callable. */
function fakeEnv(disk = new Map()) {
  const listeners = { online: [], pageHide: [] };
  const env = {
    requests: [],
    unloadRequests: [],
    warnings: [],
    listeners,
    disk,
    now: () => NOW,
    random: () => 0.5,
    randomBytes: countingBytes(Math.floor(Math.random() * 256)),
    timers: fakeTimers(),
    openStore: (kind, name) => ({
      load: () => (disk.has(name) ? JSON.parse(disk.get(name)) : null),
      save: (value) => disk.set(name, JSON.stringify(value)),
    }),
    post: async (url, body) => { env.requests.push({ url, body: JSON.parse(body) }); return { status: 200, retryAfter: null }; },
    postOnUnload: async (url, body) => { env.unloadRequests.push({ url, body: JSON.parse(body) }); return { status: 202 }; },
    isOnline: () => true,
    onOnline: (fn) => listeners.online.push(fn),
    onPageHide: (fn) => listeners.pageHide.push(fn),
    pageContext: () => ({ $current_url: 'https://shop.test/cart', $host: 'shop.test', $pathname: '/cart', $referrer: '$direct' }),
    log: { warn: (m) => env.warnings.push(m), log: () => {} },
  };
  return env;
}

function started(options = {}, env = fakeEnv()) {
  const analytics = createAnalytics(env);
  analytics.init('key_1', { host: 'http://gw.test/', ...options });
  return { analytics, env };
}

const sentEvents = (env) => env.requests.flatMap((r) => r.body.batch);

test('calls before init warn and do nothing', async () => {
  const env = fakeEnv();
  const analytics = createAnalytics(env);
  analytics.capture('x');
  analytics.identify('user_1');
  await analytics.flush();
  assert.equal(analytics.getDistinctId(), undefined);
  assert.equal(env.warnings.length, 2);
  assert.equal(env.requests.length, 0);
});

test('init without an api key warns and stays inert', () => {
  const env = fakeEnv();
  const analytics = createAnalytics(env);
  analytics.init('', {});
  assert.match(env.warnings[0], /api key/);
  assert.equal(analytics.getDistinctId(), undefined);
});

test('anonymous ids are UUIDv7, persisted under pa_<key>, and survive a reload', () => {
  const { analytics, env } = started();
  const id = analytics.getDistinctId();
  assert.match(id, UUID_V7);
  assert.equal(analytics.getDeviceId(), id);
  assert.deepEqual(JSON.parse(env.disk.get('pa_key_1')), { distinctId: id, deviceId: id, identified: false });
  const reloaded = started({}, fakeEnv(env.disk)).analytics;
  assert.equal(reloaded.getDistinctId(), id);
});

test('events have the wire shape and go to /batch/ with sent_at', async () => {
  const { analytics, env } = started();
  analytics.capture('$pageview', { plan: 'pro', $current_url: 'https://override.test/' });
  await analytics.flush();
  assert.equal(env.requests.length, 1);
  const { url, body } = env.requests[0];
  assert.equal(url, 'http://gw.test/batch/');
  assert.equal(body.api_key, 'key_1');
  assert.equal(body.sent_at, new Date(NOW).toISOString());
  const [event] = body.batch;
  assert.match(event.uuid, UUID_V7);
  assert.deepEqual({ ...event, uuid: undefined }, {
    uuid: undefined,
    event: '$pageview',
    distinct_id: analytics.getDistinctId(),
    timestamp: new Date(NOW).toISOString(),
    properties: {
      $current_url: 'https://override.test/',
      $host: 'shop.test',
      $pathname: '/cart',
      $referrer: '$direct',
      $device_id: analytics.getDeviceId(),
      $is_identified: false,
      $lib: 'analytics-web',
      $lib_version: VERSION,
      plan: 'pro',
    },
  });
});

test('identify, person properties, alias and reset produce the documented events', async () => {
  const { analytics, env } = started();
  const anon = analytics.getDistinctId();
  analytics.identify('user_1', { email: 'a@b.c' }, { source: 'ad' });
  analytics.identify('user_1');
  analytics.identify('null');
  analytics.setPersonProperties({ plan: 'max' });
  analytics.alias('backend_1');
  analytics.capture('after');
  await analytics.flush();
  const events = sentEvents(env).map((e) => [e.event, e.distinct_id, e.properties.$anon_distinct_id ?? e.properties.alias]);
  assert.deepEqual(events, [
    ['$identify', 'user_1', anon],
    ['$set', 'user_1', undefined],
    ['$create_alias', 'user_1', 'backend_1'],
    ['after', 'user_1', undefined],
  ]);
  assert.equal(env.warnings.length, 2);
  assert.deepEqual(sentEvents(env)[0].properties.$set, { email: 'a@b.c' });

  analytics.reset();
  assert.notEqual(analytics.getDistinctId(), 'user_1');
  assert.equal(analytics.getDeviceId(), anon);
  analytics.reset(true);
  assert.equal(analytics.getDeviceId(), analytics.getDistinctId());
  assert.notEqual(analytics.getDeviceId(), anon);
  assert.equal(JSON.parse(env.disk.get('pa_key_1')).identified, false);
});

test('identified state persists, so identifying again after a reload sends nothing', async () => {
  const { analytics, env } = started();
  analytics.identify('user_1');
  await analytics.flush();
  const reloaded = started({}, fakeEnv(env.disk));
  reloaded.analytics.identify('user_1');
  await reloaded.analytics.flush();
  assert.equal(reloaded.env.requests.length, 0);
  assert.match(reloaded.env.warnings[0], /already identified/);
});

test('page hide sends the queue through the unload transport', async () => {
  const { analytics, env } = started();
  analytics.capture('a');
  analytics.capture('b');
  env.listeners.pageHide.forEach((fn) => fn());
  await analytics.flush();
  assert.equal(env.requests.length, 0);
  assert.deepEqual(env.unloadRequests[0].body.batch.map((e) => e.event), ['a', 'b']);
  assert.equal(env.unloadRequests[0].url, 'http://gw.test/batch/');
});

test('batchSize from init triggers sends', async () => {
  const { analytics, env } = started({ batchSize: 2 });
  analytics.capture('a');
  analytics.capture('b');
  await env.timers.advance(0);
  assert.equal(env.requests.length, 1);
});

test('the version matches package.json', () => {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url)));
  assert.equal(VERSION, pkg.version);
});
