import {test} from 'node:test'
import assert from 'node:assert/strict'
import {existsSync, readdirSync, readFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'
import {repoRoot} from './helpers.js'

// `npm test` builds first: the commands and worker scripts under dist are the bundles src/cli/bundles.ts writes.
const dist = path.join(repoRoot, 'dist', 'src')
const SHARED = ['lib/arrow/apache-arrow.js', 'cli/oclif.js'].map((f) => path.join(dist, f))

function filesUnder(dir: string): string[] {
  return readdirSync(dir, {withFileTypes: true}).flatMap((e) =>
    e.isDirectory() ? filesUnder(path.join(dir, e.name)) : [path.join(dir, e.name)],
  )
}
const bundles = filesUnder(dist).filter(
  (f) => (f.startsWith(path.join(dist, 'commands')) && f.endsWith('.js')) || f.endsWith('-worker.js'),
)

/** A line only a copy of each library holds, and which the shared bundles do hold (checked below). */
const MARKERS: [string, RegExp][] = [
  ['apache-arrow', /^var RecordBatch\d* = class/m],
  ['oclif', /\bvar Config\d* = class _Config\b/],
]

test('the shared bundles hold Arrow and oclif', () => {
  MARKERS.forEach(([library, marker], i) => assert.match(readFileSync(SHARED[i], 'utf8'), marker, library))
})

test('every command and worker script is one file that shares Arrow and oclif, and imports nothing else of ours', () => {
  assert.ok(bundles.length >= 20, `${bundles.length} bundles`)
  for (const file of bundles) {
    const source = readFileSync(file, 'utf8')
    // Static imports, and dynamic ones: esbuild inlines a dynamic import of a file it can resolve.
    const relative = [...source.matchAll(/(?:^import [^'"]*|\bimport\()["'](\.[^'"]+)["']/gm)].map((m) =>
      path.resolve(path.dirname(file), m[1]),
    )
    for (const target of relative) assert.ok(SHARED.includes(target), `${file} imports ${target}`)
    for (const [library, marker] of MARKERS) assert.ok(!marker.test(source), `${file} holds a copy of ${library}`)
  }
})

test("a bundled module's import.meta.url is still its own file: worker scripts, assets and hooks are found", () => {
  // The build rewrites each bundled module's import.meta.url as new URL("<its file>", import.meta.url).
  const own = /new URL\(("[^"]+"), import\.meta\.url\)\.href/g
  const found: string[] = []
  for (const file of bundles) {
    const source = readFileSync(file, 'utf8')
    for (const m of source.matchAll(own)) {
      const module = fileURLToPath(new URL(JSON.parse(m[1]) as string, pathToFileURL(file)))
      assert.ok(existsSync(module), `${file}: ${m[1]} names no file`)
      // What the module resolves relative to itself: worker scripts, the BPE vocabulary, module hooks.
      const uses = source.matchAll(
        new RegExp(`new URL\\(("[^"]+"), ${m[0].replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\)`, 'g'),
      )
      for (const use of uses) {
        const target = fileURLToPath(new URL(JSON.parse(use[1]) as string, pathToFileURL(module)))
        assert.ok(existsSync(target), `${file}: ${use[1]} from ${m[1]} names no file (${target})`)
        found.push(path.relative(repoRoot, target))
      }
    }
  }
  for (const expected of [
    'dist/src/lib/data/mel-worker.js',
    'dist/src/cli/embed-worker.js',
    'dist/src/lib/train/video-frames-worker.js',
    'dist/src/lib/train/train-worker.js',
    'assets/bpe_simple_vocab_16e6.txt.gz',
  ])
    assert.ok(found.includes(expected), `no bundle finds ${expected}: ${[...new Set(found)].join(', ')}`)
})
