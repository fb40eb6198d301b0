/**
 * The miniature VIP-ANT world: which scenes each split holds, where their files go, and writing it all.
 * A scene is one concept seen (pictures) and heard (a sound) once. The splits mirror the method's data:
 * image-text pairs train CLIP, video-like clips (a sound and its frames) train the audio tower against
 * the images, and held-out sounds test zero-shot classification by text.
 */
import {mkdir, readdir, rename, rm, rmdir, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {encodeWav16} from '../../audio/wav.js'
import {CLIP_IMAGE_SIZE} from '../../image/clip-preprocess.js'
import type {RgbImage} from '../../image/rgb.js'
import {claimTemp} from '../../util/atomic-write.js'
import {UserError} from '../../util/errors.js'
import {rngFor} from '../../util/rng.js'
import {captions} from './captions.js'
import {CONCEPTS, type Concept} from './concepts.js'
import {writeJpegs} from './image-files.js'
import {lookAtFrame, randomLook, renderImage, type Look} from './images.js'
import {conceptsCsv, manifestCsv, manifestFile, WORLD_FILE, CONCEPTS_FILE} from './manifest.js'
import {synthesiseSound} from './sounds.js'

export const SPLITS = ['image-text', 'va', 'test'] as const
export type SynthSplit = (typeof SPLITS)[number]

export interface WorldConfig {
  seed: number
  /** Scenes per concept in each split. */
  clips: number
  /** The first K of CONCEPTS. */
  concepts: number
  /** Pictures per va clip (video frames); other scenes have one. */
  frames: number
  sampleRate: number
  /** Seconds per sound. */
  duration: number
  /** Side of the square pictures: CLIP's input size, so preprocessing leaves them as they are. */
  imageSize: number
}

export const DEFAULT_WORLD: WorldConfig = {
  seed: 0,
  clips: 16,
  concepts: 8,
  frames: 4,
  sampleRate: 16000,
  duration: 3,
  imageSize: CLIP_IMAGE_SIZE,
}

export interface Scene {
  /** `<split>/<class>-<nnn>`, unique across splits; its files are named after it. */
  id: string
  split: SynthSplit
  label: number
  concept: Concept
  look: Look
  /** Relative to the world's folder. */
  audio: string
  frames: string[]
  captions: string[] | null
}

/** The files a scene has, relative to the world's folder: one WAV and its pictures. */
function sceneFiles(id: string, pictures: number): {audio: string; frames: string[]} {
  const frames = pictures === 1 ? [`${id}.jpg`] : Array.from({length: pictures}, (_, k) => `${id}_f${k + 1}.jpg`)
  return {audio: `${id}.wav`, frames}
}

export function checkConfig(config: WorldConfig): void {
  const bad = (problem: string) => new UserError(`synth: ${problem}`)
  if (config.concepts < 2 || config.concepts > CONCEPTS.length)
    throw bad(`--concepts must be 2 to ${CONCEPTS.length}, got ${config.concepts}`)
  if (config.clips < 1 || config.clips > 999) throw bad(`--clips must be 1 to 999, got ${config.clips}`)
  if (config.frames < 1) throw bad(`--frames must be at least 1, got ${config.frames}`)
}

/** Every scene of the world, split by split, concept by concept; a pure function of the config. */
export function planWorld(config: WorldConfig): Scene[] {
  checkConfig(config)
  return SPLITS.flatMap((split) =>
    CONCEPTS.slice(0, config.concepts).flatMap((concept, label) =>
      Array.from({length: config.clips}, (_, i): Scene => {
        const id = `${split}/${concept.name}-${String(i + 1).padStart(3, '0')}`
        const look = randomLook(rngFor(config.seed, `${id}/look`))
        return {
          id,
          split,
          label,
          concept,
          look,
          ...sceneFiles(id, split === 'va' ? config.frames : 1),
          captions: split === 'va' ? null : captions(concept, look),
        }
      }),
    ),
  )
}

/** A scene's pictures: video frames move the shape along; each picture has its own pixel noise. */
function scenePictures(scene: Scene, config: WorldConfig): {file: string; image: RgbImage}[] {
  return scene.frames.map((file, k) => ({
    file,
    image: renderImage(scene.concept, lookAtFrame(scene.look, k), config.imageSize, rngFor(config.seed, file)),
  }))
}

function sceneSound(scene: Scene, config: WorldConfig): Uint8Array {
  const samples = synthesiseSound(scene.concept.sound, config, rngFor(config.seed, `${scene.id}/sound`))
  return encodeWav16({sampleRate: config.sampleRate, channels: [samples]})
}

/** How the world was made, in world.json. */
function worldJson(config: WorldConfig, scenes: readonly Scene[]): string {
  const splits = Object.fromEntries(SPLITS.map((s) => [s, scenes.filter((x) => x.split === s).length]))
  const {seed, clips, concepts, frames, sampleRate, duration, imageSize} = config
  return (
    JSON.stringify(
      {
        format: 'vipant-synth',
        version: 1,
        seed,
        clips_per_concept: clips,
        concepts,
        frames_per_va_clip: frames,
        sample_rate: sampleRate,
        duration,
        image_size: imageSize,
        splits,
        classes: CONCEPTS.slice(0, concepts).map((c) => c.name),
      },
      null,
      2,
    ) + '\n'
  )
}

/** Pictures encoded per ffmpeg run: bounds the raw pixels held at once (~150 kB each at 224 px). */
const JPEG_BATCH = 128

/**
 * Writes the world into DIR, which must not exist or be empty. Everything goes into a scratch folder beside
 * DIR that is renamed at the end, so an interrupted run leaves no half-made world under DIR.
 */
export async function writeWorld(dir: string, config: WorldConfig, onScene?: (scene: Scene) => void): Promise<Scene[]> {
  const scenes = planWorld(config)
  const target = path.resolve(dir)
  const existing = await readdir(target).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null
    throw new UserError(`${dir}: ${error.code === 'ENOTDIR' ? 'not a directory' : error.message}`)
  })
  if (existing && existing.length > 0)
    throw new UserError(`${dir}: exists and is not empty (synth writes a new world; remove it or name another)`)
  const {path: work, release} = claimTemp(target)
  try {
    await mkdir(work, {recursive: true})
    for (const split of SPLITS) await mkdir(path.join(work, split))
    // ffmpeg encodes one batch of pictures while the next is drawn: two cores busy instead of one.
    let pictures: {file: string; image: RgbImage}[] = []
    let encoding = Promise.resolve()
    const flush = async () => {
      const batch = pictures.map(({file, image}) => ({file: path.join(work, file), image}))
      pictures = []
      await encoding
      encoding = writeJpegs(batch, work)
      encoding.catch(() => {}) // awaited at the next flush; not an unhandled rejection meanwhile
    }
    for (const scene of scenes) {
      await writeFile(path.join(work, scene.audio), sceneSound(scene, config))
      pictures.push(...scenePictures(scene, config))
      if (pictures.length >= JPEG_BATCH) await flush()
      onScene?.(scene)
    }
    await flush()
    await encoding
    await writeFile(path.join(work, WORLD_FILE), worldJson(config, scenes))
    await writeFile(path.join(work, CONCEPTS_FILE), conceptsCsv(CONCEPTS.slice(0, config.concepts)))
    for (const split of SPLITS) {
      const rows = scenes.filter((s) => s.split === split).map((s) => ({...s, class: s.concept.name}))
      await writeFile(path.join(work, manifestFile(split)), manifestCsv(rows))
    }
    if (existing) await rmdir(target)
    await rename(work, target)
  } catch (error) {
    await rm(work, {recursive: true, force: true})
    throw error
  } finally {
    release()
  }
  return scenes
}
