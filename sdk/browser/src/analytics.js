import { batchBody, chunkBySize, UNLOAD_BODY_LIMIT_BYTES } from './core/batch.js';
import { resolveConfig } from './core/config.js';
import { buildEvent, LIB_NAME } from './core/event.js';
import * as identity from './core/identity.js';
import { classifyResponse } from './core/outcome.js';
import { createQueue } from './core/queue.js';
import { uuidv7 } from './core/uuid.js';
import { browserEnv } from './browser/env.js';
import { VERSION } from './version.js';

/** One analytics instance. `env` defaults to the real browser; tests pass a fake. */
export function createAnalytics(env = browserEnv()) {
  let config = null;
  let store = null;
  let queue = null;
  let state = null;

  const warn = (message) => env.log.warn(`[analytics] ${message}`);
  const debug = (message) => config?.debug && env.log.log(`[analytics] ${message}`);
  const newId = () => uuidv7(env.now(), env.randomBytes);
  const isoNow = () => new Date(env.now()).toISOString();

  function ready(method) {
    if (!queue) warn(`${method}() called before init(); ignored`);
    return Boolean(queue);
  }

  function enqueue({ event, distinctId, properties }) {
    const context = {
      ...env.pageContext(),
      $device_id: state.deviceId,
      $is_identified: state.identified,
      $lib: LIB_NAME,
      $lib_version: VERSION,
    };
    queue.enqueue(buildEvent({ uuid: newId(), event, distinctId, properties, context, timestamp: isoNow() }));
  }

  function apply({ state: next, events, warning }) {
    if (warning) warn(warning);
    if (next !== state) {
      state = next;
      store.save(state);
    }
    events.forEach(enqueue);
  }

  function deliver(sendBody, events) {
    debug(`sending ${events.length} events`);
    return sendBody(`${config.host}/batch/`, batchBody(config.apiKey, events, isoNow()))
      .then(({ status, retryAfter }) => classifyResponse(status, retryAfter, env.now()));
  }

  return {
    init(apiKey, options) {
      if (queue) return warn('init() called twice; ignored');
      const { config: resolved, error, warning } = resolveConfig(apiKey, options);
      if (error) return warn(error);
      if (warning) warn(warning);
      config = resolved;
      store = env.openStore(config.persistence, `pa_${config.apiKey.replace(/[^\w-]/g, '_')}`);
      const stored = store.load();
      state = identity.initialState(stored, newId());
      if (!stored) store.save(state);
      queue = createQueue({
        send: (events) => deliver(env.post, events),
        batchSize: config.batchSize,
        flushIntervalMs: config.flushIntervalMs,
        isOnline: env.isOnline,
        timers: env.timers,
        random: env.random,
        warn,
      });
      env.onOnline(() => queue.resume());
      env.onPageHide(() => queue.drain(
        (events) => deliver(env.postOnUnload, events),
        (events) => chunkBySize(config.apiKey, events, UNLOAD_BODY_LIMIT_BYTES, isoNow()),
      ));
    },

    capture(event, properties) {
      if (!ready('capture')) return;
      if (typeof event !== 'string' || !event.trim()) return warn('capture() needs an event name');
      enqueue({ event, distinctId: state.distinctId, properties });
    },

    identify(distinctId, $set, $setOnce) {
      if (ready('identify')) apply(identity.identify(state, distinctId, $set, $setOnce));
    },

    setPersonProperties($set, $setOnce) {
      if (ready('setPersonProperties')) apply(identity.setPersonProperties(state, $set, $setOnce));
    },

    alias(aliasId, original) {
      if (ready('alias')) apply(identity.alias(state, aliasId, original ?? state.distinctId));
    },

    reset(resetDeviceId = false) {
      if (ready('reset')) apply({ state: identity.reset(state, resetDeviceId, newId()), events: [] });
    },

    flush() {
      return queue ? queue.flush() : Promise.resolve();
    },

    getDistinctId() {
      return state?.distinctId;
    },

    getDeviceId() {
      return state?.deviceId;
    },
  };
}
