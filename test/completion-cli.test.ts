import {test} from 'node:test'
import assert from 'node:assert/strict'
import {mkdtempSync, readdirSync, readFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {vipant} from './cli.js'
import {repoRoot} from './helpers.js'

const commands = readdirSync(path.join(repoRoot, 'dist', 'src', 'commands'))
  .filter((f) => f.endsWith('.js'))
  .map((f) => f.slice(0, -3))

test('every command has --help with a summary and examples', () => {
  assert.ok(commands.length >= 9, commands.join(' '))
  for (const command of commands) {
    const help = vipant([command, '--help'])
    assert.equal(help.status, 0, `${command}: ${help.stderr}`)
    const text = help.stdout.toString()
    assert.match(text, /^USAGE/m, command)
    // oclif answers "help --help" with the top-level help, whose examples are indented under their captions.
    assert.match(
      text,
      command === 'help' ? /^EXAMPLES\n.*\n {4}\$ vipant /m : /^EXAMPLES\n {2}\$ vipant /m,
      `${command} --help shows examples`,
    )
  }
})

test('shell completion (bash, zsh) knows every command and its flags', () => {
  const cache = mkdtempSync(path.join(os.tmpdir(), 'vipant-complete-'))
  const built = vipant(['autocomplete', '--refresh-cache'], {env: {...process.env, XDG_CACHE_HOME: cache}})
  assert.equal(built.status, 0, built.stderr.toString())
  const bash = readFileSync(path.join(cache, 'vipant', 'autocomplete', 'functions', 'bash', 'vipant.bash'), 'utf8')
  const zsh = readFileSync(path.join(cache, 'vipant', 'autocomplete', 'functions', 'zsh', '_vipant'), 'utf8')
  for (const command of commands) {
    assert.match(bash, new RegExp(`^${command} `, 'm'), `bash completes ${command}`)
    assert.ok(zsh.includes(command), `zsh completes ${command}`)
  }
  assert.match(bash, /^mel .*--shard/m)
})
