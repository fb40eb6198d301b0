/**
 * Seeded randomness. Every random choice in vipant draws from a generator derived from the run's
 * seed and a stable key (a clip id, a step), so results do not depend on scheduling or worker count.
 */
export type Rng = () => number

/** mulberry32: uniform floats in [0, 1) from a 32-bit state. */
export function mulberry32(seed: number): Rng {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A generator for one key under a run seed (FNV-1a of the key mixed with the seed). */
export function rngFor(seed: number, key: string): Rng {
  let h = 0x811c9dc5 ^ seed
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193)
  return mulberry32(h)
}

/** numpy's randint(low, high): an integer in [low, high). */
export function randint(rng: Rng, low: number, high: number): number {
  return low + Math.floor(rng() * (high - low))
}
