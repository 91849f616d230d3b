import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveConfig } from '../../src/core/config.js';

test('defaults', () => {
  const { config, warning } = resolveConfig(' key ', { host: 'http://127.0.0.1:8080/' });
  assert.equal(warning, undefined);
  assert.deepEqual(config, {
    apiKey: 'key',
    host: 'http://127.0.0.1:8080',
    persistence: 'localStorage+cookie',
    batchSize: 50,
    flushIntervalMs: 3000,
    debug: false,
  });
  assert.ok(Object.isFrozen(config));
});

test('clamps numbers and ignores garbage', () => {
  const { config } = resolveConfig('k', { batchSize: 0, flushIntervalMs: 'soon' });
  assert.equal(config.batchSize, 1);
  assert.equal(config.flushIntervalMs, 3000);
  assert.equal(resolveConfig('k', { batchSize: 1e9 }).config.batchSize, 1000);
});

test('every persistence kind is accepted; unknown ones fall back with a warning', () => {
  for (const kind of ['localStorage+cookie', 'cookie', 'localStorage', 'memory']) {
    assert.equal(resolveConfig('k', { persistence: kind }).config.persistence, kind);
  }
  const { config, warning } = resolveConfig('k', { persistence: 'sessionStorage' });
  assert.equal(config.persistence, 'localStorage+cookie');
  assert.match(warning, /sessionStorage/);
});

test('an empty api key is an error', () => {
  for (const key of ['', '  ', undefined, 7]) assert.ok(resolveConfig(key).error);
});
