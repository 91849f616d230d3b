import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classifyResponse, parseRetryAfter } from '../../src/core/outcome.js';

test('status to outcome', () => {
  const cases = [
    [200, 'ok'], [202, 'ok'], [204, 'ok'],
    [0, 'retry'], [408, 'retry'], [429, 'retry'], [500, 'retry'], [502, 'retry'], [503, 'retry'],
    [400, 'drop'], [401, 'drop'], [403, 'drop'], [404, 'drop'], [413, 'drop'], [302, 'drop'],
  ];
  for (const [status, kind] of cases) assert.equal(classifyResponse(status, null, 0).kind, kind, String(status));
});

test('retry carries Retry-After in milliseconds', () => {
  assert.equal(classifyResponse(503, '2', 0).retryAfterMs, 2000);
  assert.equal(classifyResponse(429, null, 0).retryAfterMs, undefined);
  assert.equal(classifyResponse(400, '2', 0).reason, 'HTTP 400');
});

test('Retry-After as seconds or HTTP date', () => {
  const now = Date.UTC(2025, 0, 1, 0, 0, 0);
  assert.equal(parseRetryAfter('0', now), 0);
  assert.equal(parseRetryAfter(' 1.5 ', now), 1500);
  assert.equal(parseRetryAfter('Wed, 01 Jan 2025 00:00:30 GMT', now), 30000);
  assert.equal(parseRetryAfter('Tue, 31 Dec 2024 00:00:00 GMT', now), 0);
  assert.equal(parseRetryAfter('soon', now), undefined);
  assert.equal(parseRetryAfter('', now), undefined);
});
