/**
 * HTTP for the queue. text/plain keeps the POST a CORS "simple request" (no preflight); the
 * gateway parses the body as JSON whatever the content type. Resolves { status, retryAfter },
 * with status 0 when no HTTP answer came (offline, DNS, CORS refusal).
 */
const TEXT_PLAIN = 'text/plain;charset=UTF-8';

export function post(url, body, keepalive = false) {
  return fetch(url, { method: 'POST', headers: { 'Content-Type': TEXT_PLAIN }, body, keepalive })
    .then((response) => ({ status: response.status, retryAfter: response.headers.get('Retry-After') }))
    .catch(() => ({ status: 0, retryAfter: null }));
}

/**
 * For pagehide: sendBeacon survives the page; its answer is unknowable, so "queued by the
 * browser" counts as delivered (reported as 202). Refused beacons (size or quota) fall back
 * to fetch with keepalive, whose answer is real if the page lives on.
 */
export function postOnUnload(url, body) {
  try {
    if (navigator.sendBeacon && navigator.sendBeacon(url, new Blob([body], { type: TEXT_PLAIN }))) {
      return Promise.resolve({ status: 202, retryAfter: null });
    }
  } catch {
    // some browsers throw on beacons to other origins in odd states; use fetch instead
  }
  return post(url, body, true);
}
