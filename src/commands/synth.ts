import {Flags} from '../cli/oclif.js'
import {requiredArg} from '../cli/args.js'
import {VipantCommand} from '../cli/base-command.js'
import {progress} from '../lib/util/progress.js'
import {CONCEPTS} from '../lib/data/synth/concepts.js'
import {checkConfig, DEFAULT_WORLD, SPLITS, writeWorld, type WorldConfig} from '../lib/data/synth/world.js'

export default class Synth extends VipantCommand {
  static override summary =
    'Write the miniature VIP-ANT world: coloured shapes, their captions, and sounds tied to the shapes'
  static override description = `A deterministic synthetic world for trying the whole method anywhere (docs/demo-world.md). Each concept ("a red circle", "yellow stripes", ...) has a look and an acoustic signature (a tone, a chirp, pips, noise bursts, ...); every scene is drawn with seeded variation in position, size, background, noise, pitch, pace and level. Sounds are tied to pictures, never to captions.

Splits, one manifest CSV each, indexed by "vipant fetch synth DIR --split NAME":
  image-text  a picture and 5 captions per scene (trains the image-text model)
  va          a sound and --frames video frames per scene, no captions (trains the audio tower on the pictures)
  test        held-out sounds labelled with their concept (zero-shot by text prompts; retrieval by captions)

Pictures are ${DEFAULT_WORLD.imageSize}x${DEFAULT_WORLD.imageSize} JPEGs (through ffmpeg), sounds ${DEFAULT_WORLD.duration} s 16-bit WAV at ${DEFAULT_WORLD.sampleRate / 1000} kHz. The same seed gives byte-identical files.`

  static override examples = [
    '<%= config.bin %> synth world',
    '<%= config.bin %> synth world --seed 1 --clips 32 --concepts 10 --json',
    '<%= config.bin %> synth world && <%= config.bin %> fetch synth world --split va | <%= config.bin %> mel --frames 1 -o va.arrow',
  ]

  static override args = {dir: requiredArg('folder to create (must not exist, or be empty)')}

  static override flags = {
    seed: Flags.integer({description: 'seed of every random choice', default: DEFAULT_WORLD.seed}),
    clips: Flags.integer({description: 'scenes per concept in each split', default: DEFAULT_WORLD.clips, min: 1}),
    concepts: Flags.integer({
      description: `concepts (classes), the first K of ${CONCEPTS.length}`,
      default: DEFAULT_WORLD.concepts,
      min: 2,
      max: CONCEPTS.length,
    }),
    frames: Flags.integer({description: 'video frames per va clip', default: DEFAULT_WORLD.frames, min: 1}),
    json: Flags.boolean({description: 'print what was written as JSON'}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Synth)
    const config: WorldConfig = {
      ...DEFAULT_WORLD,
      seed: flags.seed,
      clips: flags.clips,
      concepts: flags.concepts,
      frames: flags.frames,
    }
    checkConfig(config)
    const started = performance.now()
    const bar = progress('synth', SPLITS.length * config.clips * config.concepts)
    let scenes
    try {
      scenes = await writeWorld(args.dir, config, (scene) => bar.tick({detail: scene.id}))
    } finally {
      bar.stop()
    }
    const seconds = (performance.now() - started) / 1000
    const splits = Object.fromEntries(
      SPLITS.map((split) => {
        const of = scenes.filter((s) => s.split === split)
        return [split, {scenes: of.length, sounds: of.length, pictures: of.reduce((n, s) => n + s.frames.length, 0)}]
      }),
    )
    const classes = CONCEPTS.slice(0, config.concepts).map((c) => c.name)
    if (flags.json) {
      this.log(
        JSON.stringify(
          {dir: args.dir, seed: config.seed, classes, splits, seconds: Number(seconds.toFixed(2))},
          null,
          2,
        ),
      )
      return
    }
    this.log(
      `${args.dir}: ${config.concepts} concepts (${classes.join(', ')}), seed ${config.seed}, in ${seconds.toFixed(1)} s`,
    )
    for (const [split, n] of Object.entries(splits))
      this.log(`  ${split.padEnd(10)} ${n.scenes} scenes: ${n.sounds} sounds, ${n.pictures} pictures`)
  }
}
