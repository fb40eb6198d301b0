import assert from 'node:assert/strict'
import {mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {test} from 'node:test'
import ts from 'typescript'
import {repoRoot} from './helpers.js'

/**
 * The layers of src/, lowest first (docs/architecture.md says why). A module may import from its own folder and
 * from any lower layer; folders on one line are siblings and may not import each other.
 */
const LAYERS: readonly (readonly string[])[] = [
  ['lib/util'],
  ['lib/arrow', 'lib/audio', 'lib/image', 'lib/text'],
  ['lib/net'],
  ['lib/checkpoint'],
  ['lib/data'],
  ['lib/backend'],
  ['lib/towers'],
  ['lib/model', 'lib/onnx'],
  ['lib/eval'],
  ['lib/train'],
  ['lib/html'],
  ['cli'],
  ['commands', 'hooks'],
]

interface Exception {
  from: string
  to: string
  why: string
}

/** Imports that break the order today, each with the change that removes it. */
const ALLOWED: readonly Exception[] = []

interface Edge {
  file: string
  specifier: string
  from: string
  to: string
}

/** Every .ts file under dir, as paths relative to it with forward slashes. */
function sources(dir: string, prefix = ''): string[] {
  return readdirSync(path.join(dir, prefix), {withFileTypes: true}).flatMap((entry) => {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name
    if (entry.isDirectory()) return sources(dir, rel)
    return entry.name.endsWith('.ts') ? [rel] : []
  })
}

/** The folder a path under src/ belongs to: `lib/<name>` under src/lib, else the first folder (cli, commands). */
function folderOf(rel: string): string {
  const parts = rel.split('/')
  return parts[0] === 'lib' && parts.length > 2 ? `lib/${parts[1]}` : parts[0]
}

/** Relative imports between folders: static, dynamic and type-only, and worker scripts started by URL. */
function edges(srcDir: string): Edge[] {
  return sources(srcDir).flatMap((file) => {
    const text = readFileSync(path.join(srcDir, file), 'utf8')
    const specifiers = ts.preProcessFile(text, true, true).importedFiles.map((ref) => ref.fileName)
    for (const match of text.matchAll(/new URL\(\s*'(\.[^']+)',\s*import\.meta\.url\s*\)/g)) specifiers.push(match[1])
    return specifiers.flatMap((specifier) => {
      if (!specifier.startsWith('.')) return []
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), specifier))
      if (target.startsWith('..')) return []
      const from = folderOf(file)
      const to = folderOf(target)
      return from === to ? [] : [{file: `src/${file}`, specifier, from, to}]
    })
  })
}

/** One line per import that points up or sideways, or comes from or goes to a folder with no layer. */
function violations(srcDir: string, layers = LAYERS, allowed = ALLOWED): string[] {
  const rank = new Map(layers.flatMap((folders, i) => folders.map((folder) => [folder, i] as const)))
  const problems: string[] = []
  for (const edge of edges(srcDir)) {
    if (allowed.some((a) => a.from === edge.from && a.to === edge.to)) continue
    const where = `${edge.file}: import '${edge.specifier}'`
    const from = rank.get(edge.from)
    const to = rank.get(edge.to)
    if (from === undefined || to === undefined) {
      const missing = from === undefined ? edge.from : edge.to
      problems.push(
        `${where}: folder ${missing} has no layer (add it to LAYERS in test/layers.test.ts and docs/architecture.md)`,
      )
    } else if (to > from) {
      problems.push(`${where}: ${edge.from} (layer ${from}) may not import ${edge.to} (layer ${to}, above it)`)
    } else if (to === from) {
      problems.push(`${where}: ${edge.from} and ${edge.to} are siblings (layer ${from}) and may not import each other`)
    }
  }
  return problems
}

test('src/: every import between folders points down the layers', () => {
  const problems = violations(path.join(repoRoot, 'src'))
  assert.deepEqual(problems, [], `imports against the layer order:\n${problems.join('\n')}`)
})

test('src/: every allowed exception still occurs (a fixed one leaves the list)', () => {
  const found = edges(path.join(repoRoot, 'src'))
  const stale = ALLOWED.filter((a) => !found.some((edge) => edge.from === a.from && edge.to === a.to))
  assert.deepEqual(
    stale,
    [],
    `no longer imported, remove from ALLOWED: ${stale.map((a) => `${a.from} -> ${a.to}`).join(', ')}`,
  )
})

test('the check names the file, the import and the rule', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'vipant-layers-'))
  t.after(() => rmSync(dir, {recursive: true, force: true}))
  const write = (rel: string, text: string) => {
    mkdirSync(path.dirname(path.join(dir, rel)), {recursive: true})
    writeFileSync(path.join(dir, rel), text)
  }
  write('lib/util/a.ts', "import {b} from '../arrow/b.js'\nexport const a = 1\n")
  write('lib/arrow/b.ts', "import type {c} from '../audio/c.js'\nexport const b = 1\n")
  write(
    'lib/audio/c.ts',
    "import {a} from '../util/a.js'\nconst w = new URL('./w.js', import.meta.url)\nexport const c = 1\n",
  )
  write('lib/audio/w.ts', "export const later = () => import('../mystery/m.js')\n")
  write('cli/d.ts', "import {c} from '../lib/audio/c.js'\nimport {b} from '../lib/arrow/b.js'\n")
  assert.deepEqual(violations(dir, LAYERS, []).sort(), [
    "src/lib/arrow/b.ts: import '../audio/c.js': lib/arrow and lib/audio are siblings (layer 1) and may not import each other",
    "src/lib/audio/w.ts: import '../mystery/m.js': folder lib/mystery has no layer (add it to LAYERS in test/layers.test.ts and docs/architecture.md)",
    "src/lib/util/a.ts: import '../arrow/b.js': lib/util (layer 0) may not import lib/arrow (layer 1, above it)",
  ])
  assert.deepEqual(violations(dir, LAYERS, [{from: 'lib/util', to: 'lib/arrow', why: 'test'}]).length, 2)
})
