import {test} from 'node:test'
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  utimesSync,
} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {Config} from '../src/cli/oclif.js'
import {repoRoot} from './helpers.js'

const manifestPath = path.join(repoRoot, 'oclif.manifest.json')
type Manifest = {commands: Record<string, {flags: Record<string, {type: string; char?: string}>}>}

test('npm run build writes a manifest with every command and its flags, as the compiled commands declare them', async () => {
  assert.ok(existsSync(manifestPath), 'npm run build (which npm test runs) writes oclif.manifest.json')
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as Manifest
  const config = await Config.load({root: repoRoot})
  const ids = readdirSync(path.join(repoRoot, 'dist', 'src', 'commands'), {recursive: true})
    .filter((f) => String(f).endsWith('.js'))
    .map((f) => String(f).replace(/\.js$/, '').split(path.sep).join(':'))
    .sort()
  assert.deepEqual(Object.keys(manifest.commands).sort(), ids)
  for (const id of ids) {
    const command = await config.findCommand(id, {must: true}).load()
    const declared = Object.entries(command.flags ?? {}).map(([name, f]) => [name, f.type, f.char ?? null])
    const cached = Object.entries(manifest.commands[id].flags).map(([name, f]) => [name, f.type, f.char ?? null])
    assert.deepEqual(cached.sort(), declared.sort(), id)
  }
})

test('bin/vipant.js removes a manifest older than the compiled commands (a bare tsc) and keeps a fresh one', () => {
  // A copy of the entry point beside links to the real build: the check runs on the copy's own manifest.
  const root = mkdtempSync(path.join(os.tmpdir(), 'vipant-manifest-'))
  mkdirSync(path.join(root, 'bin'))
  copyFileSync(path.join(repoRoot, 'bin', 'vipant.js'), path.join(root, 'bin', 'vipant.js'))
  copyFileSync(path.join(repoRoot, 'package.json'), path.join(root, 'package.json'))
  for (const dir of ['dist', 'node_modules']) symlinkSync(path.join(repoRoot, dir), path.join(root, dir))
  const copy = path.join(root, 'oclif.manifest.json')
  const run = () =>
    spawnSync(process.execPath, [path.join(root, 'bin', 'vipant.js'), 'head', '--help'], {encoding: 'utf8'})

  copyFileSync(manifestPath, copy)
  utimesSync(copy, new Date(), new Date(Date.now() + 3_600_000))
  const fresh = run()
  assert.equal(fresh.status, 0, fresh.stderr)
  assert.ok(existsSync(copy), 'a manifest newer than the commands is used')

  utimesSync(copy, new Date(0), new Date(0))
  const stale = run()
  assert.equal(stale.status, 0, stale.stderr)
  assert.equal(stale.stdout, fresh.stdout, 'the same help, read from the commands themselves')
  assert.ok(!existsSync(copy), 'a manifest older than the compiled commands is removed')
})
