import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as identity from '../../src/core/identity.js';

const anon = { distinctId: 'anon-1', deviceId: 'anon-1', identified: false };
const known = { distinctId: 'user_1', deviceId: 'anon-1', identified: true };

test('initial state is anonymous with one new id for both, unless stored', () => {
  assert.deepEqual(identity.initialState(null, 'n'), { distinctId: 'n', deviceId: 'n', identified: false });
  assert.deepEqual(identity.initialState(known, 'n'), known);
  assert.deepEqual(identity.initialState({ distinctId: 5 }, 'n').distinctId, 'n');
});

test('identify while anonymous links the anonymous id', () => {
  const { state, events, warning } = identity.identify(anon, 'user_1', { plan: 'pro' }, { source: 'ad' });
  assert.equal(warning, undefined);
  assert.deepEqual(state, known);
  assert.deepEqual(events, [{
    event: '$identify',
    distinctId: 'user_1',
    properties: { $anon_distinct_id: 'anon-1', $set: { plan: 'pro' }, $set_once: { source: 'ad' } },
  }]);
});

test('identify omits empty person updates and accepts numbers', () => {
  const { events } = identity.identify(anon, 42, {}, null);
  assert.deepEqual(events, [{ event: '$identify', distinctId: '42', properties: { $anon_distinct_id: 'anon-1' } }]);
});

test('identify to the current anonymous id sends $set and marks identified', () => {
  const { state, events } = identity.identify(anon, 'anon-1', { a: 1 });
  assert.equal(state.identified, true);
  assert.deepEqual(events, [{ event: '$set', distinctId: 'anon-1', properties: { $set: { a: 1 } } }]);
});

test('identify refuses placeholders without changing anything', () => {
  for (const id of ['null', ' ', 'anonymous', '"guest"', undefined]) {
    const result = identity.identify(anon, id);
    assert.equal(result.state, anon);
    assert.deepEqual(result.events, []);
    assert.match(result.warning, /placeholder/);
  }
});

test('identify to the already identified id is a warned no-op', () => {
  const { state, events, warning } = identity.identify(known, 'user_1');
  assert.equal(state, known);
  assert.deepEqual(events, []);
  assert.match(warning, /already identified/);
});

test('identify to the already identified id with properties only sets them', () => {
  const { state, events, warning } = identity.identify(known, 'user_1', { plan: 'max' });
  assert.equal(warning, undefined);
  assert.deepEqual(state, known);
  assert.deepEqual(events, [{ event: '$set', distinctId: 'user_1', properties: { $set: { plan: 'max' } } }]);
});

test('identify as another user while identified switches without linking', () => {
  let result = identity.identify(known, 'user_2');
  assert.equal(result.state.distinctId, 'user_2');
  assert.deepEqual(result.events, []);
  result = identity.identify(known, 'user_2', null, { first: 1 });
  assert.deepEqual(result.events, [{ event: '$set', distinctId: 'user_2', properties: { $set_once: { first: 1 } } }]);
});

test('alias defaults the original to the current id', () => {
  assert.deepEqual(identity.alias(known, 'backend_1').events, [
    { event: '$create_alias', distinctId: 'user_1', properties: { alias: 'backend_1' } },
  ]);
  assert.deepEqual(identity.alias(known, 'b', 'f').events, [
    { event: '$create_alias', distinctId: 'f', properties: { alias: 'b' } },
  ]);
  assert.equal(identity.alias(known, 'backend_1').state, known);
});

test('alias refuses placeholders and self-aliases', () => {
  assert.match(identity.alias(known, 'null').warning, /placeholder alias/);
  assert.match(identity.alias(known, 'x', 'undefined').warning, /placeholder original/);
  assert.match(identity.alias(known, 'user_1').warning, /equals/);
});

test('setPersonProperties sends $set with both parts, or nothing', () => {
  assert.deepEqual(identity.setPersonProperties(known, { a: 1 }, { b: 2 }).events, [
    { event: '$set', distinctId: 'user_1', properties: { $set: { a: 1 }, $set_once: { b: 2 } } },
  ]);
  assert.deepEqual(identity.setPersonProperties(known, {}, {}).events, []);
});

test('reset keeps the device id unless asked', () => {
  assert.deepEqual(identity.reset(known, false, 'n'), { distinctId: 'n', deviceId: 'anon-1', identified: false });
  assert.deepEqual(identity.reset(known, true, 'n'), { distinctId: 'n', deviceId: 'n', identified: false });
});
