import assert from 'node:assert/strict';
import { test } from 'node:test';
import { uuidv7 } from '../../src/core/uuid.js';
import { countingBytes } from './fakes.mjs';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('has the v7 layout with the millisecond timestamp up front', () => {
  const ms = Date.UTC(2025, 0, 2, 3, 4, 5, 678);
  const id = uuidv7(ms, countingBytes());
  assert.match(id, UUID_V7);
  assert.equal(parseInt(id.replace(/-/g, '').slice(0, 12), 16), ms);
});

test('sorts by creation time', () => {
  const random = countingBytes(200);
  const ids = [3, 1, 2].map((t) => uuidv7(1_700_000_000_000 + t, random));
  assert.deepEqual([...ids].sort(), [ids[1], ids[2], ids[0]]);
});

test('differs for the same millisecond when the random bytes differ', () => {
  const random = countingBytes();
  assert.notEqual(uuidv7(5, random), uuidv7(5, random));
});
