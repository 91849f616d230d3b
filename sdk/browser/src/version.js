// Kept equal to package.json "version" (a unit test checks it).
export const VERSION = '0.1.0';
