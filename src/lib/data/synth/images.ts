/**
 * Pictures of the world: a concept's shape or texture in its colour on a neutral background, with seeded
 * variation in position, size, background, pattern phase and pixel noise.
 */
import type {RgbImage} from '../../image/rgb.js'
import type {Rng} from '../../util/rng.js'
import type {Concept, Shape} from './concepts.js'

/** Neutral, so that no background is mistaken for a concept's colour. */
export const BACKGROUNDS = [
  {name: 'black', rgb: [20, 20, 20]},
  {name: 'dark grey', rgb: [70, 70, 70]},
  {name: 'grey', rgb: [120, 120, 120]},
] as const

/** What varies between two pictures of one concept; lengths are fractions of the image side. */
export interface Look {
  /** Centre of the shape. */
  cx: number
  cy: number
  /** Radius of a shape; a texture fills a square of half-side 1.4 r. */
  r: number
  background: number
  /** Offset of a texture's pattern, in periods. */
  phase: number
  /** Amplitude of the uniform pixel noise, in levels. */
  noise: number
  /** Horizontal move per video frame. */
  drift: number
}

/** Largest extent of any shape from its centre, in radii (a texture's square). */
const EXTENT = 1.4
const R_RANGE = [0.14, 0.26] as const

export function randomLook(rng: Rng): Look {
  const r = R_RANGE[0] + rng() * (R_RANGE[1] - R_RANGE[0])
  // Room for the shape and up to 3 frames of drift either way.
  const margin = EXTENT * r + 0.03
  const drift = (rng() - 0.5) * 0.04
  const span = (lo: number) => lo + rng() * (1 - 2 * lo)
  return {
    cx: span(margin + 3 * Math.abs(drift)),
    cy: span(margin),
    r,
    background: Math.floor(rng() * BACKGROUNDS.length),
    phase: rng(),
    noise: 4 + rng() * 8,
    drift,
  }
}

/** The look of the same scene K video frames later: the shape has moved. */
export function lookAtFrame(look: Look, k: number): Look {
  return {...look, cx: look.cx + k * look.drift}
}

/** The size and place of a look in words, for captions. */
export function sizeWord(look: Look): string {
  return look.r < 0.18 ? 'small' : look.r > 0.22 ? 'large' : ''
}

export function placeWords(look: Look): string {
  const third = (x: number, names: [string, string, string]) => names[Math.min(2, Math.floor(x * 3))]
  const v = third(look.cy, ['top', 'middle', 'bottom'])
  const h = third(look.cx, ['left', 'centre', 'right'])
  if (v === 'middle') return h === 'centre' ? 'centre' : h
  return h === 'centre' ? v : `${v} ${h}`
}

const frac = (x: number) => x - Math.floor(x)

/**
 * Whether the point (u, v) (fractions of the side, v downwards) is painted in the concept's colour:
 * inside the shape, or on the coloured part of the texture.
 */
export function inShape(shape: Shape, look: Look, u: number, v: number): boolean {
  const {r, phase} = look
  const du = u - look.cx
  const dv = v - look.cy
  const d = Math.sqrt(du * du + dv * dv) // not Math.hypot: this runs for every pixel, and hypot is slow in V8
  const inPatch = Math.abs(du) < EXTENT * r && Math.abs(dv) < EXTENT * r
  const period = r / 2
  switch (shape) {
    case 'circle':
      return d < r
    case 'square':
      return Math.abs(du) < 0.85 * r && Math.abs(dv) < 0.85 * r
    case 'triangle':
      return dv > -r && dv < r && Math.abs(du) < (dv + r) / 2 // apex up, base 2r wide
    case 'ring':
      return d < r && d > 0.6 * r
    case 'cross':
      return (Math.abs(du) < r && Math.abs(dv) < 0.3 * r) || (Math.abs(dv) < r && Math.abs(du) < 0.3 * r)
    case 'diamond':
      return Math.abs(du) + Math.abs(dv) < r
    case 'stripes':
      return inPatch && frac(du / period + phase) < 0.5
    case 'checkerboard':
      return inPatch && (Math.floor(du / period + phase) + Math.floor(dv / period + phase)) % 2 === 0
    case 'dots':
      return inPatch && (frac(du / period + phase) - 0.5) ** 2 + (frac(dv / period + phase) - 0.5) ** 2 < 0.09
    case 'waves':
      return inPatch && frac((dv + 0.06 * Math.sin((2 * Math.PI * du) / r)) / period + phase) < 0.5
  }
}

/** A SIZE x SIZE picture of CONCEPT with LOOK; the pixel noise draws from RNG, one draw per pixel. */
export function renderImage(concept: Concept, look: Look, size: number, rng: Rng): RgbImage {
  const rgb = new Uint8Array(size * size * 3)
  const colours = Float64Array.from([...BACKGROUNDS[look.background].rgb, ...concept.rgb])
  const {cx, cy, noise} = look
  const scale = (2 * noise) / 255
  const reach = EXTENT * look.r
  for (let y = 0, o = 0; y < size; y++) {
    // Pixel centres, so a shape does not depend on which corner is the origin.
    const v = (y + 0.5) / size
    const rowNear = Math.abs(v - cy) < reach
    for (let x = 0; x < size; x++, o += 3) {
      const u = (x + 0.5) / size
      const colour = rowNear && Math.abs(u - cx) < reach && inShape(concept.shape, look, u, v) ? 3 : 0
      const bits = (rng() * 16777216) | 0 // 24 random bits: one byte of noise per channel
      for (let c = 0; c < 3; c++) {
        const level = colours[colour + c] + (((bits >> (8 * c)) & 255) * scale - noise)
        rgb[o + c] = level <= 0 ? 0 : level >= 255 ? 255 : Math.round(level)
      }
    }
  }
  return {width: size, height: size, rgb}
}
