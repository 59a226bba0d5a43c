// Nested maps for per-label caches on the hot path: looking up a request's own strings (route id, target, reason),
// whose hashes V8 keeps on the string, costs less than building a joined key and hashing it on every request.

/** The map under `key` in `parent`, made on first use. */
export function childMap<K, V>(parent: Map<K, Map<K, V>>, key: K): Map<K, V> {
  let child = parent.get(key);
  if (child === undefined) {
    child = new Map();
    parent.set(key, child);
  }
  return child;
}
