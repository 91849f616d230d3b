import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createQueue } from '../../src/core/queue.js';
import { fakeTimers, settle } from './fakes.mjs';

/**
 * A queue wired to fakes. `answer(events)` decides each request's outcome (default ok);
 * `sent` records every request's events.
 */
function setup({ batchSize = 3, flushIntervalMs = 1000, answer = () => ({ kind: 'ok' }) } = {}) {
  const timers = fakeTimers();
  const env = { online: true, sent: [], warnings: [], answer };
  const queue = createQueue({
    send: (events) => {
      env.sent.push(events);
      return env.answer(events);
    },
    batchSize,
    flushIntervalMs,
    isOnline: () => env.online,
    timers,
    random: () => 0.5,
    warn: (message) => env.warnings.push(message),
  });
  return { queue, timers, env };
}

const deferred = () => {
  let resolve;
  const promise = new Promise((r) => { resolve = r; });
  return { promise, resolve };
};

test('sends a full batch at once and the rest after the interval', async () => {
  const { queue, timers, env } = setup();
  for (let i = 1; i <= 7; i++) queue.enqueue(i);
  await settle();
  assert.deepEqual(env.sent, [[1, 2, 3], [4, 5, 6]]);
  await timers.advance(999);
  assert.equal(env.sent.length, 2);
  await timers.advance(1);
  assert.deepEqual(env.sent.at(-1), [7]);
});

test('one request in flight at a time', async () => {
  const gate = deferred();
  const { queue, env } = setup({ answer: () => gate.promise });
  for (let i = 1; i <= 6; i++) queue.enqueue(i);
  await settle();
  assert.deepEqual(env.sent, [[1, 2, 3]]);
  gate.resolve({ kind: 'ok' });
  await settle();
  assert.deepEqual(env.sent, [[1, 2, 3], [4, 5, 6]]);
});

test('flush sends now and resolves after delivery; empty flush resolves at once', async () => {
  const { queue, env } = setup();
  await queue.flush();
  queue.enqueue('a');
  await queue.flush();
  assert.deepEqual(env.sent, [['a']]);
});

test('retries 5xx after the backoff, honouring Retry-After, then succeeds', async () => {
  const answers = [{ kind: 'retry', retryAfterMs: 5000 }, { kind: 'ok' }];
  const { queue, timers, env } = setup({ answer: () => answers.shift() });
  queue.enqueue('a');
  let flushed = false;
  queue.flush().then(() => { flushed = true; });
  await settle();
  assert.equal(env.sent.length, 1);
  await timers.advance(4999);
  assert.equal(env.sent.length, 1);
  assert.equal(flushed, false);
  await timers.advance(1);
  assert.deepEqual(env.sent, [['a'], ['a']]);
  assert.equal(flushed, true);
});

test('a rejected send counts as retryable', async () => {
  let calls = 0;
  const { queue, timers, env } = setup({ answer: () => (calls++ ? { kind: 'ok' } : Promise.reject(new Error('boom'))) });
  queue.enqueue('a');
  queue.flush();
  await settle();
  await timers.advance(1000);
  assert.deepEqual(env.sent, [['a'], ['a']]);
});

test('drops on 4xx with a warning and carries on', async () => {
  const { queue, env } = setup({ answer: (events) => (events[0] === 'bad' ? { kind: 'drop', reason: 'HTTP 400' } : { kind: 'ok' }) });
  queue.enqueue('bad');
  await queue.flush();
  queue.enqueue('good');
  await queue.flush();
  assert.deepEqual(env.sent, [['bad'], ['good']]);
  assert.match(env.warnings[0], /HTTP 400/);
});

test('gives up on a batch after the attempt limit', async () => {
  const { queue, timers, env } = setup({ answer: () => ({ kind: 'retry' }) });
  queue.enqueue('a');
  const done = queue.flush();
  await timers.advance(10 * 60 * 1000);
  await done;
  assert.equal(env.sent.length, 10);
  assert.match(env.warnings[0], /after 10 failed attempts/);
});

test('holds the queue while offline and sends once on resume', async () => {
  const { queue, timers, env } = setup();
  env.online = false;
  queue.enqueue('a');
  queue.enqueue('b');
  const done = queue.flush();
  await timers.advance(60000);
  assert.deepEqual(env.sent, []);
  env.online = true;
  queue.resume();
  await done;
  assert.deepEqual(env.sent, [['a', 'b']]);
});

test('a failure while offline does not start a backoff', async () => {
  const { queue, timers, env } = setup({ answer: () => { env.online = false; return { kind: 'retry' }; } });
  queue.enqueue('a');
  queue.flush();
  await settle();
  assert.equal(timers.pending(), 0);
  env.online = true;
  env.answer = () => ({ kind: 'ok' });
  queue.resume();
  await queue.flush();
  assert.deepEqual(env.sent, [['a'], ['a']]);
});

test('online during a pending retry sends once, and the old timer does not resend', async () => {
  const answers = [{ kind: 'retry' }, { kind: 'ok' }];
  const { queue, timers, env } = setup({ answer: () => answers.shift() ?? { kind: 'ok' } });
  queue.enqueue('a');
  queue.flush();
  await settle();
  assert.equal(timers.pending(), 1); // the retry timer
  queue.resume();
  queue.resume();
  await settle();
  assert.equal(timers.pending(), 0);
  await timers.advance(60000);
  assert.deepEqual(env.sent, [['a'], ['a']]);
});

test('online while a request is in flight does not send it again', async () => {
  const gate = deferred();
  const { queue, env } = setup({ answer: () => gate.promise });
  queue.enqueue('a');
  await settle();
  queue.resume();
  await settle();
  gate.resolve({ kind: 'ok' });
  await queue.flush();
  assert.deepEqual(env.sent, [['a']]);
});

test('drain hands queued events, not the in-flight batch, to the unload sender in chunks', async () => {
  const gate = deferred();
  const { queue, env } = setup({ answer: () => gate.promise });
  for (let i = 1; i <= 5; i++) queue.enqueue(i); // [1,2,3] in flight, [4,5] queued
  await settle();
  const unloadSent = [];
  const chunk = (events) => events.map((e) => [e]);
  queue.drain((events) => { unloadSent.push(events); return { kind: 'ok' }; }, chunk);
  const done = queue.flush();
  await settle();
  assert.deepEqual(unloadSent, [[4], [5]]);
  gate.resolve({ kind: 'ok' });
  await done;
  assert.deepEqual(env.sent, [[1, 2, 3]]);
});

test('a failed unload chunk goes back to the queue in order', async () => {
  const { queue, timers, env } = setup();
  env.online = false;
  queue.enqueue(1);
  queue.enqueue(2);
  env.online = true;
  queue.drain((events) => (events[0] === 1 ? { kind: 'retry' } : { kind: 'ok' }), (events) => events.map((e) => [e]));
  await settle();
  await timers.advance(1000);
  assert.deepEqual(env.sent, [[1]]);
});

test('drain does nothing while offline', async () => {
  const { queue, env } = setup();
  env.online = false;
  queue.enqueue(1);
  let called = false;
  queue.drain(() => { called = true; }, (events) => [events]);
  assert.equal(called, false);
  env.online = true;
  queue.resume();
  await queue.flush();
  assert.deepEqual(env.sent, [[1]]);
});

test('drain waits while a retry backoff is pending', async () => {
  const answers = [{ kind: 'retry' }];
  const { queue, timers, env } = setup({ answer: () => answers.shift() ?? { kind: 'ok' } });
  queue.enqueue(1);
  queue.flush();
  await settle();
  queue.enqueue(2);
  let called = false;
  queue.drain(() => { called = true; }, (events) => [events]);
  assert.equal(called, false);
  await timers.advance(2000);
  assert.deepEqual(env.sent, [[1], [1, 2]]);
});

test('the queue is bounded and drops the oldest', async () => {
  const { queue, env } = setup({ batchSize: 2000 });
  env.online = false;
  for (let i = 0; i < 1005; i++) queue.enqueue(i);
  assert.equal(queue.size(), 1000);
  assert.equal(env.warnings.length, 5);
  env.online = true;
  queue.resume();
  await queue.flush();
  assert.equal(env.sent[0][0], 5);
});

test('every event is delivered exactly once under random failures, outages and unloads', async () => {
  // Seeded so that a failure reproduces.
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const delivered = [];
  const outcome = (events) => {
    const r = rand();
    if (r < 0.3) return { kind: 'retry' };
    if (r < 0.4) return Promise.reject(new Error('network'));
    delivered.push(...events);
    return new Promise((resolve) => setImmediate(() => resolve({ kind: 'ok' })));
  };
  const { queue, timers, env } = setup({ batchSize: 4, answer: outcome });
  let next = 0;
  for (let step = 0; step < 400; step++) {
    const r = rand();
    if (r < 0.5) queue.enqueue(next++);
    else if (r < 0.6) env.online = !env.online;
    else if (r < 0.7 && env.online) queue.resume();
    else if (r < 0.75) queue.drain(outcome, (events) => [events.slice(0, 2), events.slice(2)].filter((c) => c.length));
    else await timers.advance(rand() * 5000);
  }
  env.online = true;
  env.answer = (events) => { delivered.push(...events); return { kind: 'ok' }; };
  queue.resume();
  const done = queue.flush();
  await timers.advance(10 * 60 * 1000);
  await done;
  assert.equal(env.warnings.length, 0, env.warnings.join('\n'));
  assert.deepEqual([...delivered].sort((a, b) => a - b), Array.from({ length: next }, (_, i) => i));
});
