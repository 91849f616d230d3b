// Ids that apps pass by mistake (unset variables, literal "null", form defaults). Linking on
// them would glue unrelated users into one person, so identify/alias refuse them.
const CASE_INSENSITIVE = new Set([
  'anonymous', 'guest', 'distinctid', 'distinct_id', 'id', 'not_authenticated', 'email',
  'undefined', 'true', 'false', 'null',
]);
const EXACT = new Set(['[object Object]', 'NaN', 'None', 'none', '0']);

function unquote(s) {
  const q = s[0];
  return s.length >= 2 && (q === '"' || q === "'") && s[s.length - 1] === q ? s.slice(1, -1).trim() : s;
}

/** True when `id` must not be used as an identified distinct id. */
export function isPlaceholderId(id) {
  if (typeof id !== 'string') return true;
  const s = unquote(id.trim());
  return s === '' || EXACT.has(s) || CASE_INSENSITIVE.has(s.toLowerCase());
}
