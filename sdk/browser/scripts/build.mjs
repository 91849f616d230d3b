// Builds dist/analytics.js (minified IIFE for a script tag) and dist/analytics.esm.js.
import { build } from 'esbuild';

const common = {
  bundle: true,
  minify: true,
  // Modern evergreen browsers; also keeps optional chaining and spread unlowered (smaller).
  target: ['es2020'],
  legalComments: 'none',
  logLevel: 'warning',
};

await Promise.all([
  build({ ...common, entryPoints: ['src/global.js'], format: 'iife', outfile: 'dist/analytics.js' }),
  build({ ...common, entryPoints: ['src/index.js'], format: 'esm', outfile: 'dist/analytics.esm.js' }),
]);
