// sendBeacon and fetch(keepalive) refuse bodies over 64 KiB; stay a little below for headers.
export const UNLOAD_BODY_LIMIT_BYTES = 63 * 1024;

/** The /batch/ request body; sent_at lets the server correct the client's clock skew. */
export function batchBody(apiKey, events, sentAt) {
  return JSON.stringify({ api_key: apiKey, batch: events, sent_at: sentAt });
}

const encoder = new TextEncoder();
const utf8Length = (text) => encoder.encode(text).length;

/**
 * Splits events into consecutive groups whose batch body stays within `limitBytes`, keeping
 * order. An event too large on its own still gets a group of its own (the caller decides).
 */
export function chunkBySize(apiKey, events, limitBytes, sentAt) {
  const overhead = utf8Length(batchBody(apiKey, [], sentAt));
  const chunks = [];
  let current = [];
  let size = overhead;
  for (const event of events) {
    const bytes = utf8Length(JSON.stringify(event));
    if (current.length && size + 1 + bytes > limitBytes) {
      chunks.push(current);
      current = [];
      size = overhead;
    }
    size += (current.length ? 1 : 0) + bytes; // a comma before every event but the first
    current.push(event);
  }
  if (current.length) chunks.push(current);
  return chunks;
}
