/**
 * Ids from the preferred keys, except that a key standing for several distinct items (told apart by their
 * fallbacks) gives way to the fallbacks. Items with the same key and fallback are the same item: same id.
 */
export function uniqueIds(preferred: readonly string[], fallbacks: readonly string[]): string[] {
  const distinct = new Map<string, Set<string>>()
  preferred.forEach((key, i) => {
    const set = distinct.get(key) ?? new Set<string>()
    distinct.set(key, set.add(fallbacks[i]))
  })
  return preferred.map((key, i) => (distinct.get(key)!.size > 1 ? fallbacks[i] : key))
}
