// Prints the script-tag bundle's size as users download it (minified, gzip -9).
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

// Budget from the SDK's brief: a script tag on every page must stay cheap.
const BUDGET_BYTES = 6 * 1024;

const raw = readFileSync(new URL('../dist/analytics.js', import.meta.url));
const gzipped = gzipSync(raw, { level: 9 }).length;
console.log(`dist/analytics.js: ${raw.length} B minified, ${gzipped} B min+gzip (budget ${BUDGET_BYTES} B)`);
if (gzipped > BUDGET_BYTES) process.exitCode = 1;
