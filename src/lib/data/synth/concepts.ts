/**
 * The concepts of the miniature VIP-ANT world: each is a look (a colour and a shape or texture) and a sound
 * (an acoustic signature). The two are tied through the concept alone, so the only route from a sound to
 * a word is through what the sound's pictures look like: the visual pivot the method relies on.
 */

export type Shape =
  'circle' | 'square' | 'triangle' | 'stripes' | 'checkerboard' | 'ring' | 'cross' | 'diamond' | 'dots' | 'waves'

/** An acoustic signature; frequencies in Hz, rates in events per second. */
export type Signature =
  | {kind: 'tone'; hz: number}
  | {kind: 'chirp'; from: number; to: number}
  | {kind: 'pips'; hz: number; rate: number; regular: boolean}
  | {kind: 'bursts'; low: number; high: number; rate: number}
  | {kind: 'am'; hz: number; rate: number}
  | {kind: 'buzz'; hz: number}
  | {kind: 'siren'; low: number; high: number; rate: number}
  | {kind: 'rumble'; low: number; high: number}

export interface Concept {
  /** Class name, as ESC-50 writes them ("_" reads as a space in prompts). */
  name: string
  /** The words for it, without article or size: "red circle", "yellow stripes". */
  words: string
  /** Textures are plural ("yellow stripes") and take no article. */
  plural: boolean
  rgb: readonly [number, number, number]
  shape: Shape
  sound: Signature
}

const concept = (name: string, rgb: Concept['rgb'], shape: Shape, sound: Signature, plural = false): Concept => ({
  name,
  words: name.replace(/_/g, ' '),
  plural,
  rgb,
  shape,
  sound,
})

/**
 * In order of label. Signatures differ in where their energy is (dominant frequency) and in how it moves
 * (steady, sweeping, pulsed), so a small audio tower can tell them apart from log-mels.
 */
export const CONCEPTS: readonly Concept[] = [
  concept('red_circle', [220, 40, 40], 'circle', {kind: 'tone', hz: 440}),
  concept('blue_square', [40, 80, 220], 'square', {kind: 'chirp', from: 400, to: 1200}),
  concept('green_triangle', [40, 180, 60], 'triangle', {kind: 'chirp', from: 3200, to: 1600}),
  concept('yellow_stripes', [235, 210, 40], 'stripes', {kind: 'pips', hz: 2000, rate: 5, regular: true}, true),
  concept('purple_checkerboard', [150, 60, 210], 'checkerboard', {kind: 'bursts', low: 4500, high: 6000, rate: 3}),
  concept('orange_ring', [245, 140, 30], 'ring', {kind: 'am', hz: 700, rate: 6}),
  concept('cyan_cross', [40, 200, 210], 'cross', {kind: 'buzz', hz: 150}),
  concept('pink_diamond', [240, 120, 180], 'diamond', {kind: 'siren', low: 1000, high: 1400, rate: 2}),
  concept('white_dots', [240, 240, 240], 'dots', {kind: 'pips', hz: 6500, rate: 8, regular: false}, true),
  concept('brown_waves', [150, 95, 45], 'waves', {kind: 'rumble', low: 250, high: 350}, true),
]

/** "a red circle", "an orange ring", "yellow stripes"; with an adjective: "a small red circle". */
export function phrase(c: Concept, adjective = ''): string {
  const words = adjective ? `${adjective} ${c.words}` : c.words
  if (c.plural) return words
  return `${/^[aeiou]/.test(words) ? 'an' : 'a'} ${words}`
}

/** The signature in words, for the world's concepts.csv (no commas: the demo prints it with cut). */
export function describeSignature(s: Signature): string {
  switch (s.kind) {
    case 'tone':
      return `steady tone at ${s.hz} Hz`
    case 'chirp':
      return `${s.to > s.from ? 'rising' : 'falling'} chirp ${s.from}->${s.to} Hz`
    case 'pips':
      return `${s.regular ? 'regular' : 'irregular'} ${s.hz} Hz pips at ${s.rate}/s`
    case 'bursts':
      return `noise bursts ${s.low}-${s.high} Hz at ${s.rate}/s`
    case 'am':
      return `${s.hz} Hz tone amplitude-modulated at ${s.rate} Hz`
    case 'buzz':
      return `buzz: ${s.hz} Hz with 12 harmonics`
    case 'siren':
      return `siren alternating ${s.low}/${s.high} Hz at ${s.rate} cycles/s`
    case 'rumble':
      return `continuous noise ${s.low}-${s.high} Hz`
  }
}
