/**
 * Writes oclif.manifest.json: every command's id, flags and help, read once at build time. Without it oclif imports
 * every command module at start-up to learn its flags, and with them TensorFlow.js, ONNX and sharp, whichever
 * command runs (0.45 CPU s of a 1.5 s start, measured in docs/performance.md). `npm run build` runs this after tsc;
 * bin/vipant.js sets aside a manifest older than the compiled commands, so a bare `tsc` never leaves stale flags.
 */
import {renameSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {Plugin} from './oclif.js'

const root = fileURLToPath(new URL('../../..', import.meta.url))
const plugin = new Plugin({root, type: 'core', isRoot: true, ignoreManifest: true, errorOnManifestCreate: true})
await plugin.load()
const target = path.join(root, 'oclif.manifest.json')
writeFileSync(`${target}.${process.pid}.tmp`, `${JSON.stringify(plugin.manifest, null, 2)}\n`)
renameSync(`${target}.${process.pid}.tmp`, target)
