// Script-tag entry: <script src=".../static/analytics.js"> defines window.analytics.
import { analytics } from './index.js';

window.analytics = analytics;
