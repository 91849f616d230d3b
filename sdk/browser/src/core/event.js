export const LIB_NAME = 'analytics-web';

/**
 * The wire form of one event. `context` carries SDK and page properties ($device_id,
 * $current_url, $lib, ...); explicit event properties win over it.
 */
export function buildEvent({ uuid, event, distinctId, properties, context, timestamp }) {
  return {
    uuid,
    event,
    distinct_id: distinctId,
    properties: { ...context, ...(properties && typeof properties === 'object' ? properties : {}) },
    timestamp,
  };
}
