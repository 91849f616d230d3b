/**
 * What to do with a batch after one delivery attempt: a closed set of outcomes.
 *   { kind: 'ok' }                        delivered
 *   { kind: 'retry', retryAfterMs? }      transient: network error, 408, 429, 5xx
 *   { kind: 'drop', reason }              the server will never accept it: other 4xx
 * `status` 0 means the request never got an HTTP answer (offline, DNS, CORS failure).
 */
export function classifyResponse(status, retryAfterHeader, nowMs) {
  if (status >= 200 && status < 300) return { kind: 'ok' };
  if (status === 0 || status === 408 || status === 429 || status >= 500) {
    return { kind: 'retry', retryAfterMs: parseRetryAfter(retryAfterHeader, nowMs) };
  }
  return { kind: 'drop', reason: `HTTP ${status}` };
}

/** Retry-After is delta-seconds or an HTTP date; anything else is ignored. */
export function parseRetryAfter(header, nowMs) {
  if (header == null || header === '') return undefined;
  const text = String(header).trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}
