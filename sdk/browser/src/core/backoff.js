// First retry after about a second: a gateway restart or a Kafka leader election is short.
const BASE_DELAY_MS = 1000;
// Past half a minute, waiting longer only delays data without easing the server's load.
const MAX_DELAY_MS = 30000;
// A server may ask for a long pause, but an open tab should not go silent for an hour.
const MAX_RETRY_AFTER_MS = 5 * 60 * 1000;

/**
 * Delay before retry number `attempt` (1-based): exponential, capped, with ±50% jitter so
 * that many tabs recovering from one outage do not retry in lockstep. A server's
 * Retry-After is a lower bound. `random()` returns a number in [0, 1).
 */
export function retryDelayMs(attempt, random, retryAfterMs) {
  const exp = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** Math.max(0, attempt - 1));
  const jittered = Math.min(MAX_DELAY_MS, exp * (0.5 + random()));
  return retryAfterMs > 0 ? Math.max(jittered, Math.min(retryAfterMs, MAX_RETRY_AFTER_MS)) : jittered;
}
