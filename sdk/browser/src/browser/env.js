import { isOnline, onOnline, onPageHide, pageContext } from './lifecycle.js';
import { openStore } from './storage.js';
import { post, postOnUnload } from './transport.js';

function randomBytes(n) {
  const bytes = new Uint8Array(n);
  if (globalThis.crypto?.getRandomValues) return crypto.getRandomValues(bytes);
  for (let i = 0; i < n; i++) bytes[i] = Math.floor(Math.random() * 256);
  return bytes;
}

/**
 * Everything the SDK takes from the browser, in one object so tests can pass a fake.
 * Nothing here touches window or document until called, so importing is safe during SSR.
 */
export function browserEnv() {
  return {
    now: () => Date.now(),
    random: Math.random,
    randomBytes,
    timers: {
      setTimeout: (fn, ms) => setTimeout(fn, ms),
      clearTimeout: (id) => clearTimeout(id),
    },
    openStore,
    post,
    postOnUnload,
    isOnline,
    onOnline,
    onPageHide,
    pageContext,
    log: console,
  };
}
