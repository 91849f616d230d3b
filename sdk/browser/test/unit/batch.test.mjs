import assert from 'node:assert/strict';
import { test } from 'node:test';
import { batchBody, chunkBySize, UNLOAD_BODY_LIMIT_BYTES } from '../../src/core/batch.js';

const SENT_AT = '2025-01-01T00:00:00.000Z';
const event = (i, pad = 0) => ({ uuid: `u${i}`, event: 'e', distinct_id: 'd', properties: { pad: 'é'.repeat(pad) } });
const bytes = (text) => Buffer.byteLength(text, 'utf8');

test('body has the /batch/ shape', () => {
  assert.deepEqual(JSON.parse(batchBody('k', [event(1)], SENT_AT)), { api_key: 'k', batch: [event(1)], sent_at: SENT_AT });
});

test('chunks stay under the limit, in order, losing nothing', () => {
  const events = Array.from({ length: 300 }, (_, i) => event(i, 200 + (i % 7) * 50)); // ~150 KB, 2-byte chars
  const chunks = chunkBySize('k', events, UNLOAD_BODY_LIMIT_BYTES, SENT_AT);
  assert.ok(chunks.length >= 3);
  assert.deepEqual(chunks.flat(), events);
  for (const chunk of chunks) assert.ok(bytes(batchBody('k', chunk, SENT_AT)) <= UNLOAD_BODY_LIMIT_BYTES);
});

test('a body exactly at the limit is one chunk', () => {
  const events = [event(1, 10), event(2, 10)];
  const limit = bytes(batchBody('k', events, SENT_AT));
  assert.equal(chunkBySize('k', events, limit, SENT_AT).length, 1);
  assert.equal(chunkBySize('k', events, limit - 1, SENT_AT).length, 2);
});

test('an oversized event gets a chunk of its own', () => {
  const chunks = chunkBySize('k', [event(1), event(2, 40000), event(3)], 1000, SENT_AT);
  assert.deepEqual(chunks.map((c) => c.map((e) => e.uuid)), [['u1'], ['u2'], ['u3']]);
});

test('no events, no chunks', () => {
  assert.deepEqual(chunkBySize('k', [], 100, SENT_AT), []);
});
