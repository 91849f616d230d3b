import { createAnalytics } from './analytics.js';

/** The default instance, as in the docs: analytics.init(apiKey, { host }). */
export const analytics = createAnalytics();
export { createAnalytics };
export default analytics;
