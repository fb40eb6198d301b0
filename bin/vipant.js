#!/usr/bin/env node
import {existsSync} from 'node:fs'
import {fileURLToPath} from 'node:url'
import {execute} from '@oclif/core'

// A fresh clone has no compiled commands until `npm run build`; oclif would then list none, silently.
if (!existsSync(new URL('../dist/src/commands', import.meta.url))) {
  process.stderr.write(
    `vipant: not built yet: run "npm run build" in ${fileURLToPath(new URL('..', import.meta.url))}\n`,
  )
  process.exit(1)
}
await execute({dir: import.meta.url})
