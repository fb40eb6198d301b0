/**
 * Bundles what every command loads at start-up, so that Node reads a few files instead of hundreds. `npm run build`
 * runs this after tsc, replacing some of tsc's output in place; a bare tsc leaves the unbundled modules, which behave
 * the same and only start slower. Measured cold under Node 20, one core (docs/performance.md):
 * - apache-arrow, some 160 ES modules: 150 ms to load, 25 ms bundled (into src/lib/arrow/apache-arrow.ts);
 * - @oclif/core, some 150 CommonJS files: 85 ms, 40 ms bundled (into src/cli/oclif.ts);
 * - each command with the vipant modules it imports (mel and its 60-odd, Arrow included): 70 ms, 30 ms bundled;
 *   each worker thread's script likewise. Packages, Arrow and oclif stay outside, one copy of each in a process.
 */
import {build, type BuildOptions, type Plugin} from 'esbuild'
import {readdirSync, readFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const root = fileURLToPath(new URL('../../..', import.meta.url))
const dist = path.join(root, 'dist/src')
const common: BuildOptions = {
  absWorkingDir: root,
  bundle: true,
  platform: 'node',
  format: 'esm',
  keepNames: true,
  logLevel: 'warning',
}

/** The two libraries, each bundled from its re-exporting module (under src/, as .ts) into tsc's output of it. */
const ARROW = 'lib/arrow/apache-arrow'
const OCLIF = 'cli/oclif'
const library = (module: string): BuildOptions => ({
  ...common,
  entryPoints: [`src/${module}.ts`],
  outfile: `dist/src/${module}.js`,
})
/** The modules every other bundle leaves outside: one copy of each library in a process. */
const SHARED = [ARROW, OCLIF].map((module) => path.join(dist, `${module}.js`))

/**
 * Keeps what a bundled module means by `import.meta.url`: its own file, not the bundle's. Worker scripts, assets and
 * module hooks are found relative to it, and the unbundled files stay where tsc wrote them.
 */
function ownLocation(outfile: string): Plugin {
  return {
    name: 'own-location',
    setup(b) {
      b.onResolve({filter: /^\./}, ({path: spec, resolveDir}) => {
        const target = path.resolve(resolveDir, spec)
        return SHARED.includes(target) ? {path: relativeSpec(outfile, target), external: true} : undefined
      })
      b.onLoad({filter: /\.js$/}, ({path: file}) => {
        const contents = readFileSync(file, 'utf8')
        if (!contents.includes('import.meta.url')) return undefined
        const own = `new URL(${JSON.stringify(relativeSpec(outfile, file))}, import.meta.url).href`
        return {contents: contents.replaceAll('import.meta.url', own), loader: 'js', resolveDir: path.dirname(file)}
      })
    },
  }
}

/** `target` as an import specifier relative to the file `from`. */
function relativeSpec(from: string, target: string): string {
  const relative = path.relative(path.dirname(from), target).split(path.sep).join('/')
  return relative.startsWith('.') ? relative : `./${relative}`
}

/** The modules Node starts from: every command (oclif imports it by path) and every worker thread's script. */
function entryFiles(dir: string, commands = false): string[] {
  return readdirSync(dir, {withFileTypes: true}).flatMap((entry) => {
    const file = path.join(dir, entry.name)
    if (entry.isDirectory()) return entryFiles(file, commands || file === path.join(dist, 'commands'))
    return (commands && entry.name.endsWith('.js')) || entry.name.endsWith('-worker.js') ? [file] : []
  })
}

await Promise.all([
  build(library(ARROW)),
  build({
    ...library(OCLIF),
    // oclif is CommonJS: inside an ES module its `require` calls (Node's own modules, plugins' files) and its
    // `__dirname` need defining. TypeScript stays out: oclif loads it only to run uncompiled commands.
    banner: {
      js: [
        "import {createRequire as __createRequire} from 'node:module'",
        "import {dirname as __pathDirname} from 'node:path'",
        "import {fileURLToPath as __fileURLToPath} from 'node:url'",
        'const require = __createRequire(import.meta.url)',
        'const __filename = __fileURLToPath(import.meta.url)',
        'const __dirname = __pathDirname(__filename)',
      ].join('\n'),
    },
    external: ['typescript'],
    // At load, oclif checks Node against the engines of its own package.json, which it looks for beside its file
    // and so cannot find once bundled: 6 ms of loading semver to no end. npm checks vipant's engines at install.
    define: {'process.env.OCLIF_DISABLE_ENGINE_WARNING': '"1"'},
  }),
  ...entryFiles(dist).map((file) =>
    build({
      ...common,
      entryPoints: [file],
      outfile: file,
      allowOverwrite: true,
      // Mapped to the TypeScript sources through tsc's own maps, for stack traces under --enable-source-maps.
      sourcemap: true,
      packages: 'external',
      plugins: [ownLocation(file)],
    }),
  ),
])
