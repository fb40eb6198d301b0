#!/usr/bin/env node
import {existsSync, readdirSync, rmSync, statSync} from 'node:fs'
import {fileURLToPath} from 'node:url'

const commands = new URL('../dist/src/commands/', import.meta.url)
// A fresh clone has no compiled commands until `npm run build`; oclif would then list none, silently.
if (!existsSync(commands)) {
  process.stderr.write(
    `vipant: not built yet: run "npm run build" in ${fileURLToPath(new URL('..', import.meta.url))}\n`,
  )
  process.exit(1)
}
// oclif.manifest.json (written by `npm run build`) spares oclif importing every command at start-up. Compiled again
// without it (a bare tsc), commands are newer than the manifest, whose flags may then be wrong: remove it.
const manifest = new URL('../oclif.manifest.json', import.meta.url)
if (existsSync(manifest)) {
  const written = statSync(manifest).mtimeMs
  const compiled = [commands, new URL('../dist/src/cli/', import.meta.url)].flatMap((dir) =>
    readdirSync(dir).map((name) => statSync(new URL(name, dir)).mtimeMs),
  )
  if (compiled.some((t) => t > written)) {
    try {
      rmSync(manifest)
    } catch {
      // a read-only install is never recompiled in place
    }
  }
}
// oclif as vipant's modules import it (bundled into one file by the build, see src/cli/oclif.ts).
const {execute} = await import('../dist/src/cli/oclif.js')
await execute({dir: import.meta.url})
