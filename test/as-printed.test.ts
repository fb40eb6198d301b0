import {after, before, test} from 'node:test'
import assert from 'node:assert/strict'
import {execFileSync, spawn, spawnSync} from 'node:child_process'
import {cpSync, existsSync, readdirSync, readFileSync, renameSync, rmSync} from 'node:fs'
import path from 'node:path'
import {pathToFileURL} from 'node:url'
import {checkPlotPath} from '../src/lib/eval/plot-file.js'
import {buildWorld, type World} from './as-printed-world.js'
import {repoRoot, skipWithoutShared} from './helpers.js'

// Users copy commands literally: every `vipant ...` line of README.md's sh blocks and every command's --help
// example runs here as printed, in document order, in one working directory of a sandbox world (as-printed-world.ts),
// on a terminal (script(1) gives it a pseudo-terminal, so a command that would write binary to a terminal fails here too).

interface Printed {
  line: string
  /** Where it is printed: README.md, or `vipant CMD --help`. */
  where: string[]
}

/** Every line of README.md's ```sh blocks that starts with `vipant `, trailing `# comment` removed. */
function readmeCommands(markdown: string): string[] {
  const blocks = [...markdown.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) => m[1])
  return blocks
    .flatMap((block) => block.split('\n'))
    .filter((line) => line.startsWith('vipant '))
    .map(stripComment)
}

// eslint-disable-next-line no-control-regex -- a terminal's escape sequences are what is removed
const TERMINAL_ESCAPES = /\x1b(\[[0-9;?]*[A-Za-z]|[78])/g
const stripComment = (line: string) => line.replace(/\s+#\s.*$/, '').trim()

/** Pipeline order, the order README.md presents the commands in: later examples may use earlier ones' outputs. */
const COMMAND_ORDER = [
  'fetch',
  'fetch model',
  'mel',
  'embed',
  'zeroshot',
  'retrieve',
  'curate',
  'pretrain',
  'finetune',
  'report',
  'convert',
  'inspect',
  'head',
  'concat',
  'synth',
]

/** Each command's `static examples`, from the compiled command classes, with `<%= config.bin %>` as `vipant`. */
async function helpExamples(): Promise<{command: string; examples: string[]}[]> {
  const dir = path.join(repoRoot, 'dist', 'src', 'commands')
  const files = readdirSync(dir, {recursive: true, encoding: 'utf8'}).filter((f) => f.endsWith('.js'))
  const commands = await Promise.all(
    files.map(async (file) => {
      const command = file.replace(/\.js$/, '').split(path.sep).join(' ')
      const {default: Command} = (await import(pathToFileURL(path.join(dir, file)).href)) as {
        default: {examples?: (string | {command: string})[]}
      }
      const examples = (Command.examples ?? []).map((e) =>
        stripComment((typeof e === 'string' ? e : e.command).replaceAll('<%= config.bin %>', 'vipant')),
      )
      return {command, examples}
    }),
  )
  const rank = (c: string) => (COMMAND_ORDER.includes(c) ? COMMAND_ORDER.indexOf(c) : COMMAND_ORDER.length)
  return commands.sort((a, b) => rank(a.command) - rank(b.command) || a.command.localeCompare(b.command))
}

/**
 * Examples that cannot run here, each with the reason; kept short, and each must still be printed somewhere
 * (an entry whose example is gone fails the test, so the list never outlives its reason).
 */
const SKIP: {line: string; reason: string; unless?: () => Promise<boolean>}[] = [
  {
    line: 'vipant report runs/at -o at-curves.png',
    reason: "writing .png needs rsvg-convert or ImageMagick's convert, absent here (apt-get install librsvg2-bin)",
    unless: () =>
      checkPlotPath('x.png').then(
        () => true,
        () => false,
      ),
  },
]

const onPath = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0

/** Other tools a line pipes into (jq, ...): a line needing one that is not installed is skipped, saying so. */
function missingTools(line: string): string[] {
  return [...line.replace(/'[^']*'|"[^"]*"/g, '').matchAll(/\|\s*([\w.-]+)/g)]
    .map((m) => m[1])
    .filter((tool) => tool !== 'vipant' && !onPath(tool))
}

/** script(1) from util-linux gives each command a terminal; without it the test cannot run them as typed. */
const skipWithoutScript =
  skipWithoutShared || (spawnSync('script', ['--version']).status === 0 ? false : 'needs script(1) (util-linux)')

/**
 * Training examples run a full-size model or 1000 epochs: each is stopped with Ctrl-C once its first step is
 * logged, and counts as started when it then checkpoints and exits 130, as README.md says it does.
 */
const TRAINING = /\bvipant (pretrain|finetune)\b/

/** Lines a failure leaks when it is not a clean one-line error: stack frames, raw error names, internals. */
const LEAKS = [
  /^\s+at .+:\d+:\d+\)?$/m,
  /node:internal/,
  /\b(TypeError|RangeError|ReferenceError|SyntaxError|AssertionError)\b/,
  /^(Uncaught |Unhandled|Error: )/m,
  /\bERR_[A-Z_]{4,}\b/,
]

const readJson = (cwd: string, file: string) => JSON.parse(readFileSync(path.join(cwd, file), 'utf8'))
const percent = '\\d+\\.\\d\\d'

/** What key commands must print or write, beyond a clean exit: the report a user came for. */
const CHECKS: {match: RegExp; check: (output: string, world: World, line: string) => void}[] = [
  // A zero-shot report on the terminal, with its accuracy.
  {
    match: /vipant zeroshot(?!.*(--json|--classes))/,
    check: (out) => assert.match(out, new RegExp(`^accuracy ${percent}%\\s+top-5 ${percent}%$`, 'm')),
  },
  // Your own classes on unlabelled clips: each clip and its predicted class.
  {
    match: /vipant zeroshot .*--classes/,
    check: (out) => {
      assert.match(out, /^predictions \(clips without a label\)$/m)
      assert.ok(
        (out.match(/^\S+\s+(dog bark|car horn|jackhammer|siren)\s+-?\d+\.\d{4}$/gm)?.length ?? 0) >= 2,
        'a predicted class per clip',
      )
    },
  },
  {
    match: /vipant zeroshot .*--json > \S+$/,
    check: (_, world, line) => {
      const report = readJson(world.cwd, line.split(' > ')[1])
      assert.ok(
        report.clips.evaluated > 0 && report.accuracy >= 0 && report.accuracy <= report.top5 && report.top5 <= 1,
        'zero-shot JSON report',
      )
    },
  },
  {
    match: /--plot esc50-confusion\.svg/,
    check: (_, world) => {
      assert.match(readFileSync(path.join(world.cwd, 'esc50-confusion.svg'), 'utf8'), /^<svg[\s\S]*accuracy/)
    },
  },
  // Retrieval: R@k of both directions; a text search: each query's hits; an audio search: the captions it finds.
  {
    match: /vipant retrieve (--data \w+ ~|clotho\.arrow --model \S+$)/,
    check: (out) => {
      for (const direction of ['audio->text', 'text->audio'])
        assert.match(out, new RegExp(`^${direction}\\s+\\d+\\s+${percent}\\s+${percent}`, 'm'))
    },
  },
  {
    match: /vipant retrieve .*--json > \S+$/,
    check: (_, world, line) => {
      const report = readJson(world.cwd, line.split(' > ')[1])
      assert.ok(
        report.audio_to_text.r1 <= report.audio_to_text.r10 &&
          report.text_to_audio.queries === 5 * report.audio_to_text.queries,
        'retrieval JSON report',
      )
    },
  },
  {
    match: /vipant retrieve .*--query/,
    check: (out, _, line) => {
      for (const [, query] of line.matchAll(/--query "([^"]+)"/g))
        assert.match(out, new RegExp(`^query: "${query}"\\n.*\\n-.*\\n\\s+1\\s+-?\\d\\.\\d{4}\\s`, 'm'))
    },
  },
  {
    match: /vipant retrieve .*--audio recording\.wav -k 5/,
    check: (out) => assert.equal(out.match(/^\s+[1-5]\s+-?\d\.\d{4}\s/gm)?.length, 5),
  },
  // Downloads: the archives fetched from the mirror and unpacked; the YouTube clips cut, the gone one a row.
  {
    match: /vipant fetch (esc50|clotho) .*--download/,
    check: (out) => {
      assert.match(out, /^fetch \w+: \S+ (downloaded \(\d+ bytes\) and unpacked|already unpacked)$/m)
    },
  },
  {
    match: /vipant fetch audioset .*--download --split eval_segments --limit 500/,
    check: (out) => {
      assert.match(out, /^fetch audioset: 2 downloaded, 0 already on disk, 1 unavailable, 0 failed /m)
      assert.match(out, /^fetch audioset: 3 clips, 2 on disk, 1 unavailable/m)
    },
  },
  {
    match: /vipant fetch model vipant-esc50$/,
    check: (out, world) => {
      assert.match(out, new RegExp(`^${path.join(world.vipantHome, 'models', 'vipant-va-00083391.pth')}$`, 'm'))
    },
  },
  {
    match: /vipant fetch model --list$/,
    check: (out) => assert.equal(out.match(/^(clip|vipant)-\S+\s+\d+ MiB\s+cached\s/gm)?.length, 9),
  },
]

/**
 * Inputs an example names as given, which the world makes from what earlier examples wrote (the example's own
 * text stays as printed). A training run's named checkpoint stands for a run that got that far: the run here is
 * stopped after a step, so its latest checkpoint takes the name.
 */
const GIVEN: {file: string; from: string | ((cwd: string, env: NodeJS.ProcessEnv) => string | undefined)}[] = [
  // Clotho's log-mels with their captions: the evaluation index through mel.
  {
    file: 'clotho-mel.arrow',
    from: (cwd, env) => {
      const made = path.join(cwd, '.given-clotho-mel.arrow')
      execFileSync(
        'bash',
        ['-o', 'pipefail', '-c', `vipant fetch clotho ~/data/clotho --split evaluation | vipant mel -o ${made}`],
        {cwd, env, stdio: 'ignore'},
      )
      return made
    },
  },
  {file: 'index.arrow', from: 'clotho-eval.arrow'},
  {file: 'audioset.arrow', from: 'eval.arrow'},
  {file: 'emb.arrow', from: 'esc50-emb.arrow'},
  {file: 'frames-emb.arrow', from: 'frames.arrow'},
  {file: 'a.arrow', from: 'esc50.arrow'},
  {file: 'b.arrow', from: 'us8k.arrow'},
  {file: 'shard-000.arrow', from: 'esc50.arrow'},
  {file: 'shard-001.arrow', from: 'us8k.arrow'},
  {file: 'runs/va/checkpoints/step-00001000', from: (cwd) => latestCheckpoint(path.join(cwd, 'runs', 'va'))},
  {file: 'runs/clip/checkpoints/step-00000300', from: (cwd) => latestCheckpoint(path.join(cwd, 'runs', 'clip'))},
]

function latestCheckpoint(run: string): string | undefined {
  const dir = path.join(run, 'checkpoints')
  const last = existsSync(dir)
    ? readdirSync(dir)
        .filter((d) => d.startsWith('step-'))
        .sort()
        .at(-1)
    : undefined
  return last && path.join(dir, last)
}

/** Makes the GIVEN inputs LINE names (a glob such as shard-*.arrow names every file it matches) that are not there yet. */
function provideGiven(line: string, cwd: string, env: NodeJS.ProcessEnv): void {
  const words = line
    .split(/\s+/)
    .map((w) => new RegExp(`^${w.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replaceAll('*', '[^/]*')}$`))
  for (const {file, from} of GIVEN) {
    if (!words.some((w) => w.test(file)) || existsSync(path.join(cwd, file))) continue
    const source = typeof from === 'string' ? path.join(cwd, from) : from(cwd, env)
    if (source && existsSync(source)) cpSync(source, path.join(cwd, file), {recursive: true})
  }
}

/**
 * Examples are independent: one that creates a directory that must be new (a training run, not --resume; a synth
 * world) gets it free when an earlier example made it, the earlier one moved aside, instead of "already holds a run".
 */
function freeNewDir(line: string, cwd: string): void {
  const synth = /\bvipant synth (\S+)/.exec(line)
  const dir = synth
    ? path.join(cwd, synth[1])
    : TRAINING.test(line) && !line.includes('--resume')
      ? runDir(line, cwd)
      : undefined
  if (!dir || !existsSync(dir)) return
  let n = 1
  while (existsSync(`${dir}.earlier-${n}`)) n++
  renameSync(dir, `${dir}.earlier-${n}`)
}

/** The run directory a training command writes: -o/--out, or its --config file's out. */
function runDir(line: string, cwd: string): string | undefined {
  const flag = /(?:-o|--out)\s+(\S+)/.exec(line.slice(line.search(TRAINING)))
  if (flag) return path.join(cwd, flag[1])
  const config = /--config\s+(\S+)/.exec(line)
  const out = config && /^out:\s*(\S+)/m.exec(readFileSync(path.join(cwd, config[1]), 'utf8'))
  return out ? path.join(cwd, out[1]) : undefined
}

const stepsLogged = (run: string | undefined) => {
  if (!run || !existsSync(path.join(run, 'metrics.jsonl'))) return 0
  return readFileSync(path.join(run, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{') && !l.includes('"eval"')).length
}

interface Outcome {
  code: number | null
  output: string
  /** A training command stopped with Ctrl-C after its first new step. */
  interrupted: boolean
  seconds: number
}

/** Runs LINE as a user types it into bash on a terminal; a training command gets Ctrl-C after its first new step. */
function runAsPrinted(line: string, world: World, timeoutMs: number): Promise<Outcome> {
  const training = TRAINING.test(line)
  const run = training ? runDir(line, world.cwd) : undefined
  const before = stepsLogged(run)
  const started = performance.now()
  const child = spawn('script', ['-qefc', `set -o pipefail; ${line}`, '/dev/null'], {
    cwd: world.cwd,
    env: {...world.env, SHELL: '/bin/bash'},
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  })
  let output = ''
  child.stdout.on('data', (d: Buffer) => (output += d.toString()))
  child.stderr.on('data', (d: Buffer) => (output += d.toString()))
  let interrupted = false
  const poll = setInterval(() => {
    if (training && !interrupted && stepsLogged(run) > before) {
      interrupted = true
      child.stdin.write('\x03')
    }
  }, 200)
  const timer = setTimeout(() => {
    output += `\n[as-printed: still running after ${timeoutMs / 1000} s, killed]\n`
    process.kill(-child.pid!, 'SIGKILL')
  }, timeoutMs)
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearInterval(poll)
      clearTimeout(timer)
      // A terminal's line endings and progress redraws, as plain lines.
      const text = output
        .replace(TERMINAL_ESCAPES, '')
        .replace(/\r\n/g, '\n')
        .replace(/[^\n]*\r/g, '')
      resolve({code, output: text, interrupted, seconds: (performance.now() - started) / 1000})
    }),
  )
}

let world: World
let printed: Printed[] = []

before(async () => {
  if (skipWithoutScript) return
  const seen = new Map<string, Printed>()
  const add = (line: string, where: string) => {
    const entry = seen.get(line) ?? {line, where: []}
    if (!entry.where.includes(where)) entry.where.push(where)
    seen.set(line, entry)
  }
  for (const line of readmeCommands(readFileSync(path.join(repoRoot, 'README.md'), 'utf8'))) add(line, 'README.md')
  for (const {command, examples} of await helpExamples())
    for (const line of examples) add(line, `vipant ${command} --help`)
  printed = [...seen.values()]
  world = await buildWorld()
})

after(async () => {
  if (!world) return
  await world.server.close()
  rmSync(world.root, {recursive: true, force: true})
})

test(
  "the printed commands are found: README.md's sh blocks and every command's examples",
  {skip: skipWithoutScript},
  async () => {
    const readme = printed.filter((p) => p.where.includes('README.md'))
    assert.ok(readme.length >= 30, `${readme.length} README commands`)
    assert.ok(printed.length - readme.length >= 40, `${printed.length - readme.length} more --help examples`)
    assert.ok(
      printed.every((p) => !p.line.includes('<%') && !/\s#\s/.test(p.line)),
      'templates and comments stripped',
    )
    assert.ok(SKIP.length <= 3, 'the skip list stays short')
    for (const skip of SKIP)
      assert.ok(
        printed.some((p) => p.line === skip.line),
        `skipped but no longer printed: ${skip.line}`,
      )
  },
)

test('every printed command runs as printed', {skip: skipWithoutScript, timeout: 1_500_000}, async (t) => {
  const failures: string[] = []
  for (const {line, where} of printed) {
    const skip = SKIP.find((s) => s.line === line)
    const missing = missingTools(line)
    const skipped =
      skip && !(await skip.unless?.())
        ? skip.reason
        : missing.length > 0
          ? `needs ${missing.join(', ')} on PATH`
          : undefined
    await t.test(line, {skip: skipped}, async () => {
      provideGiven(line, world.cwd, world.env)
      freeNewDir(line, world.cwd)
      const outcome = await runAsPrinted(line, world, 180_000)
      const status = `exit ${outcome.code}${outcome.interrupted ? ' after Ctrl-C' : ''}, ${outcome.seconds.toFixed(1)} s`
      const how = `${line}\n  (${where.join(', ')}; ${status})\n${outcome.output.trimEnd()}`
      try {
        const ok =
          outcome.code === 0 ||
          (outcome.interrupted && outcome.code === 130 && /saving a checkpoint after this step/.test(outcome.output))
        assert.ok(ok, 'exit status')
        for (const leak of LEAKS) assert.doesNotMatch(outcome.output, leak, 'a raw error or stack trace')
        for (const {match, check} of CHECKS) if (match.test(line)) check(outcome.output, world, line)
      } catch (error) {
        failures.push(`${(error as Error).message}: ${how}`)
        throw new Error(`${(error as Error).message}: ${how}`, {cause: error})
      }
      // AS_PRINTED_VERBOSE=1: every command's time and what it printed, to see what users see.
      if (process.env.AS_PRINTED_VERBOSE) process.stderr.write(`${how}\n\n`)
    })
  }
  assert.deepEqual(failures, [], `${failures.length} of ${printed.length} printed commands fail`)
})
