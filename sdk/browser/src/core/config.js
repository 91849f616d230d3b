export const PERSISTENCE_KINDS = ['localStorage+cookie', 'cookie', 'localStorage', 'memory'];

// 50 events stay far below the gateway's body limit and one request a few seconds apart.
const DEFAULT_BATCH_SIZE = 50;
const MAX_BATCH_SIZE = 1000;
// Same cadence as posthog-js: fast enough for live debugging, few requests per page.
const DEFAULT_FLUSH_INTERVAL_MS = 3000;
const MAX_FLUSH_INTERVAL_MS = 60000;

function intIn(value, min, max, fallback) {
  const n = Number(value);
  return Number.isFinite(n) ? Math.min(max, Math.max(min, Math.floor(n))) : fallback;
}

/**
 * Turns init(apiKey, options) into a frozen config, or returns { error } for unusable input.
 * Unknown persistence falls back to the default with a `warning`.
 */
export function resolveConfig(apiKey, options = {}) {
  const key = typeof apiKey === 'string' ? apiKey.trim() : '';
  if (!key) return { error: 'init() needs a non-empty api key' };
  let persistence = options.persistence ?? PERSISTENCE_KINDS[0];
  let warning;
  if (!PERSISTENCE_KINDS.includes(persistence)) {
    warning = `unknown persistence "${persistence}", using "${PERSISTENCE_KINDS[0]}"`;
    persistence = PERSISTENCE_KINDS[0];
  }
  return {
    warning,
    config: Object.freeze({
      apiKey: key,
      // '' keeps requests same-origin, for pages served by the gateway itself.
      host: String(options.host ?? '').replace(/\/+$/, ''),
      persistence,
      batchSize: intIn(options.batchSize, 1, MAX_BATCH_SIZE, DEFAULT_BATCH_SIZE),
      flushIntervalMs: intIn(options.flushIntervalMs, 0, MAX_FLUSH_INTERVAL_MS, DEFAULT_FLUSH_INTERVAL_MS),
      debug: Boolean(options.debug),
    }),
  };
}
