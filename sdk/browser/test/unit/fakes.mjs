// Deterministic stand-ins for time and randomness shared by the unit tests.

/** Manual timers: nothing runs until advance(ms). */
export function fakeTimers() {
  let now = 0;
  let nextId = 1;
  const due = new Map(); // id -> { at, fn }
  return {
    setTimeout(fn, ms) {
      due.set(nextId, { at: now + Math.max(0, ms), fn });
      return nextId++;
    },
    clearTimeout(id) {
      due.delete(id);
    },
    pending: () => due.size,
    /** Moves time forward, running timers in order, with promise callbacks settled between. */
    async advance(ms) {
      const until = now + ms;
      for (;;) {
        await settle();
        const [id, next] = [...due].sort((a, b) => a[1].at - b[1].at)[0] ?? [];
        if (!next || next.at > until) break;
        due.delete(id);
        now = next.at;
        next.fn();
      }
      now = until;
      await settle();
    },
  };
}

/** Lets every queued promise callback run. */
export function settle() {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A counter-based byte source so ids are predictable. */
export function countingBytes(start = 0) {
  let counter = start;
  return (n) => Uint8Array.from({ length: n }, () => counter++ % 256);
}
