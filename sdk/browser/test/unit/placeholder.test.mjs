import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPlaceholderId } from '../../src/core/placeholder.js';

test('refuses placeholder ids', () => {
  const placeholders = [
    '', '   ', 'anonymous', 'ANONYMOUS', 'Guest', 'distinctid', 'distinct_id', 'ID', 'not_authenticated',
    'email', 'undefined', 'True', 'false', 'null', 'NULL', '[object Object]', 'NaN', 'None', 'none', '0',
    '"null"', "'guest'", '"0"', ' "undefined" ', '""', undefined, null, {}, 42,
  ];
  for (const id of placeholders) assert.equal(isPlaceholderId(id), true, JSON.stringify(id));
});

test('accepts real ids, including near misses of the exact list', () => {
  for (const id of ['user_123', 'nan', '00', '[object object]', 'NONE_1', 'guest_42', '"user"', 'a']) {
    assert.equal(isPlaceholderId(id), false, id);
  }
});
