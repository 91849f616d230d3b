import { retryDelayMs } from './backoff.js';

// Bounds memory while the gateway is unreachable; past this the oldest events go first.
const MAX_QUEUED_EVENTS = 1000;
// About three minutes of capped backoff. A batch failing that long is most likely poison
// (a server bug on this payload); dropping it unblocks every event queued behind it.
const MAX_ATTEMPTS = 10;

/**
 * The event queue. Delivery goes through injected functions, so it runs anywhere:
 *   send(events) -> Promise<outcome>   outcome as in outcome.js; a rejection counts as retry
 *   isOnline() -> boolean              no regular sends while false; resume() restarts
 *   timers { setTimeout, clearTimeout }, random() for jitter, warn(message)
 *
 * Invariant that makes delivery exactly-once from this side: an event is in exactly one of
 * `pending`, `inflight` (the single regular request) or `unloading` (page-hide requests),
 * and leaves them only when its request succeeded or was dropped. Nothing in `pending` is
 * being sent, so no trigger (timer, flush, online, page hide) can send an event twice.
 */
export function createQueue({ send, batchSize, flushIntervalMs, isOnline, timers, random, warn }) {
  let pending = []; // { seq, event }, ordered by seq
  let inflight = [];
  const unloading = new Set();
  let lastSeq = 0;
  let attempt = 0;
  let flushTimer = null;
  let retryTimer = null;
  let waiters = []; // flush() callers: { seq, resolve }, done once every event <= seq settled

  function oldestUnsettled() {
    let oldest = Infinity;
    for (const list of [pending, inflight, ...unloading]) {
      for (const record of list) oldest = Math.min(oldest, record.seq);
    }
    return oldest;
  }

  function settle() {
    const oldest = oldestUnsettled();
    waiters = waiters.filter((w) => (w.seq < oldest ? (w.resolve(), false) : true));
  }

  function requeue(records) {
    pending = records.concat(pending).sort((a, b) => a.seq - b.seq);
  }

  function clearFlushTimer() {
    timers.clearTimeout(flushTimer);
    flushTimer = null;
  }

  // Send now when a batch is full or a flush() waits; otherwise within flushIntervalMs.
  function schedule() {
    if (!pending.length) return;
    const wanted = waiters.some((w) => pending[0].seq <= w.seq);
    if (pending.length >= batchSize || wanted) pump();
    else if (!flushTimer) flushTimer = timers.setTimeout(() => { flushTimer = null; pump(); }, flushIntervalMs);
  }

  function pump() {
    if (inflight.length || retryTimer || !pending.length || !isOnline()) return;
    clearFlushTimer();
    inflight = pending.splice(0, batchSize);
    Promise.resolve()
      .then(() => send(inflight.map((r) => r.event)))
      .catch(() => ({ kind: 'retry' }))
      .then(finishRegular);
  }

  function finishRegular(outcome) {
    const batch = inflight;
    inflight = [];
    if (outcome.kind === 'retry') {
      requeue(batch);
      // Failures while offline are expected and not counted: resume() restarts sending.
      if (!isOnline()) return;
      attempt += 1;
      if (attempt < MAX_ATTEMPTS) {
        const delay = retryDelayMs(attempt, random, outcome.retryAfterMs);
        retryTimer = timers.setTimeout(() => { retryTimer = null; pump(); }, delay);
        return;
      }
      pending = pending.filter((r) => !batch.includes(r));
      warn(`dropping ${batch.length} events after ${attempt} failed attempts`);
    } else if (outcome.kind === 'drop') {
      warn(`dropping ${batch.length} events: ${outcome.reason}`);
    }
    attempt = 0;
    settle();
    schedule();
  }

  return {
    enqueue(event) {
      pending.push({ seq: ++lastSeq, event });
      if (pending.length > MAX_QUEUED_EVENTS) {
        pending.shift();
        warn(`queue full (${MAX_QUEUED_EVENTS} events), dropped the oldest`);
        settle();
      }
      schedule();
    },

    /** Resolves once every event enqueued before the call was delivered or dropped. */
    flush() {
      if (oldestUnsettled() > lastSeq) return Promise.resolve();
      return new Promise((resolve) => {
        waiters.push({ seq: lastSeq, resolve });
        schedule();
      });
    },

    /** Back online: skip a pending backoff (the failure was most likely the network). */
    resume() {
      if (retryTimer) {
        timers.clearTimeout(retryTimer);
        retryTimer = null;
      }
      attempt = 0;
      pump();
      schedule();
    },

    /**
     * Page is being hidden or unloaded: hand every queued event that is not already in
     * flight to `sendChunk`, in groups made by `chunk(events) -> events[][]` (size limits
     * of sendBeacon). Failed groups return to the queue. Skipped while backing off: a
     * beacon's answer is unknowable, so one sent to a failing server would be lost silently.
     */
    drain(sendChunk, chunk) {
      if (!pending.length || !isOnline() || retryTimer) return;
      clearFlushTimer();
      const records = pending;
      pending = [];
      let start = 0;
      for (const events of chunk(records.map((r) => r.event))) {
        const group = records.slice(start, start + events.length);
        start += events.length;
        unloading.add(group);
        Promise.resolve()
          .then(() => sendChunk(events))
          .catch(() => ({ kind: 'retry' }))
          .then((outcome) => {
            unloading.delete(group);
            if (outcome.kind === 'retry') requeue(group);
            else if (outcome.kind === 'drop') warn(`dropping ${group.length} events: ${outcome.reason}`);
            settle();
            schedule();
          });
      }
    },

    size() {
      return pending.length + inflight.length;
    },
  };
}
