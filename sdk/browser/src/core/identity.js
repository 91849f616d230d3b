import { isPlaceholderId } from './placeholder.js';

/**
 * Identity transitions as plain functions. State is { distinctId, deviceId, identified };
 * each call returns { state, events, warning? } where events are
 * { event, distinctId, properties } still to be stamped and queued by the caller.
 */

export function initialState(stored, newId) {
  if (stored && typeof stored.distinctId === 'string' && typeof stored.deviceId === 'string') {
    return { distinctId: stored.distinctId, deviceId: stored.deviceId, identified: stored.identified === true };
  }
  // As posthog-js: a fresh browser's anonymous distinct id doubles as its device id.
  return { distinctId: newId, deviceId: newId, identified: false };
}

function isObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** The $set / $set_once part of properties, omitting empty or non-object arguments. */
export function personUpdates(set, setOnce) {
  const out = {};
  if (isObject(set) && Object.keys(set).length) out.$set = set;
  if (isObject(setOnce) && Object.keys(setOnce).length) out.$set_once = setOnce;
  return out;
}

function asId(id) {
  return typeof id === 'number' && Number.isFinite(id) ? String(id) : id;
}

export function identify(state, rawId, set, setOnce) {
  const id = asId(rawId);
  if (isPlaceholderId(id)) {
    return { state, events: [], warning: `identify() refused placeholder id ${JSON.stringify(String(rawId))}` };
  }
  const updates = personUpdates(set, setOnce);
  const hasUpdates = Object.keys(updates).length > 0;
  const next = { ...state, distinctId: id, identified: true };

  if (!state.identified && id !== state.distinctId) {
    const properties = { $anon_distinct_id: state.distinctId, ...updates };
    return { state: next, events: [{ event: '$identify', distinctId: id, properties }] };
  }
  if (!state.identified) {
    // The anonymous id is already the user's id: nothing to link, only claim it.
    return { state: next, events: [{ event: '$set', distinctId: id, properties: updates }] };
  }
  if (id === state.distinctId && !hasUpdates) {
    return { state, events: [], warning: `identify() ignored: already identified as ${JSON.stringify(id)}` };
  }
  // Identified already: switching users never links ids (shared-device protection).
  return { state: next, events: hasUpdates ? [{ event: '$set', distinctId: id, properties: updates }] : [] };
}

export function alias(state, rawAlias, rawOriginal = state.distinctId) {
  const aliasId = asId(rawAlias);
  const original = asId(rawOriginal);
  for (const [name, value] of [['alias', aliasId], ['original', original]]) {
    if (isPlaceholderId(value)) {
      return { state, events: [], warning: `alias() refused placeholder ${name} ${JSON.stringify(String(value))}` };
    }
  }
  if (aliasId === original) {
    return { state, events: [], warning: 'alias() ignored: alias equals the original id' };
  }
  return { state, events: [{ event: '$create_alias', distinctId: original, properties: { alias: aliasId } }] };
}

export function setPersonProperties(state, set, setOnce) {
  const updates = personUpdates(set, setOnce);
  if (!Object.keys(updates).length) return { state, events: [] };
  return { state, events: [{ event: '$set', distinctId: state.distinctId, properties: updates }] };
}

export function reset(state, resetDeviceId, newId) {
  return { distinctId: newId, deviceId: resetDeviceId ? newId : state.deviceId, identified: false };
}
