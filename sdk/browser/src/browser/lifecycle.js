export const isOnline = () => navigator.onLine !== false;

export function onOnline(fn) {
  addEventListener('online', fn);
}

// pagehide covers unload and the back/forward cache; visibilitychange is the last event
// mobile browsers reliably fire before they kill a backgrounded tab.
export function onPageHide(fn) {
  addEventListener('pagehide', fn);
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'hidden') fn();
  });
}

export function pageContext() {
  return {
    $current_url: location.href,
    $host: location.host,
    $pathname: location.pathname,
    $referrer: document.referrer || '$direct',
  };
}
