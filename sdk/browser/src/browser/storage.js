// Identity outlives the tab like a login would; one year, as posthog-js.
const COOKIE_MAX_AGE_S = 365 * 24 * 60 * 60;

function cookieStore(name) {
  return {
    read() {
      const entry = document.cookie.split('; ').find((c) => c.startsWith(`${name}=`));
      return entry ? decodeURIComponent(entry.slice(name.length + 1)) : null;
    },
    write(text) {
      const secure = location.protocol === 'https:' ? '; Secure' : '';
      document.cookie = `${name}=${encodeURIComponent(text)}; Max-Age=${COOKIE_MAX_AGE_S}; Path=/; SameSite=Lax${secure}`;
    },
  };
}

function localStore(name) {
  return {
    read: () => localStorage.getItem(name),
    write: (text) => localStorage.setItem(name, text),
  };
}

function memoryStore() {
  let value = null;
  return { read: () => value, write: (text) => { value = text; } };
}

const LAYERS = {
  'localStorage+cookie': (name) => [localStore(name), cookieStore(name)],
  localStorage: (name) => [localStore(name)],
  cookie: (name) => [cookieStore(name)],
  memory: () => [],
};

/**
 * A JSON value kept under `name` in the chosen persistence. Reads take the first layer that
 * has it; writes go to all. A layer that throws (storage disabled, sandboxed iframe) is
 * skipped, and an in-memory copy keeps the page working when every layer fails.
 */
export function openStore(kind, name) {
  const layers = [...LAYERS[kind](name), memoryStore()];
  return {
    load() {
      for (const layer of layers) {
        try {
          const text = layer.read();
          if (text) return JSON.parse(text);
        } catch {
          // unreadable layer or corrupt value: try the next one
        }
      }
      return null;
    },
    save(value) {
      const text = JSON.stringify(value);
      for (const layer of layers) {
        try {
          layer.write(text);
        } catch {
          // quota or disabled storage: the other layers still hold it
        }
      }
    },
  };
}
