import assert from 'node:assert/strict';
import { test } from 'node:test';
import { retryDelayMs } from '../../src/core/backoff.js';

const low = () => 0;
const mid = () => 0.5;
const high = () => 0.999999;

test('doubles per attempt around the jitter midpoint', () => {
  assert.deepEqual([1, 2, 3, 4, 5].map((n) => retryDelayMs(n, mid)), [1000, 2000, 4000, 8000, 16000]);
});

test('jitter spans half to one and a half times the base', () => {
  assert.equal(retryDelayMs(3, low), 2000);
  assert.ok(Math.abs(retryDelayMs(3, high) - 6000) < 1);
});

test('is capped', () => {
  assert.equal(retryDelayMs(30, high), 30000);
  assert.equal(retryDelayMs(1000, mid), 30000);
});

test('Retry-After is a lower bound, itself capped', () => {
  assert.equal(retryDelayMs(1, mid, 7000), 7000);
  assert.equal(retryDelayMs(5, mid, 100), 16000);
  assert.equal(retryDelayMs(1, mid, 24 * 3600 * 1000), 300000);
});
