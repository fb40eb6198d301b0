import {test} from 'node:test'
import assert from 'node:assert/strict'
import {mkdtempSync, readFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {tableFromIPC} from '@uwdata/flechette'
import {vipant} from './cli.js'
import {sharedData, skipWithoutShared} from './helpers.js'

const dir = mkdtempSync(path.join(os.tmpdir(), 'vipant-rows-'))
const ids = (file: string) => tableFromIPC(readFileSync(file), {useProxy: false}).getChild('id').toArray() as string[]

test('head keeps the first rows; concat puts tables back together in order', {skip: skipWithoutShared}, () => {
  const all = path.join(dir, 'esc50.arrow')
  assert.equal(vipant(['fetch', 'esc50', sharedData('esc50'), '-o', all]).status, 0)
  const first = vipant(['head', all, '-n', '1500', '-o', path.join(dir, 'a.arrow')])
  assert.equal(first.status, 0, first.stderr.toString())
  assert.deepEqual(ids(path.join(dir, 'a.arrow')), ids(all).slice(0, 1500))
  // head reads from a pipe too, and -n past the end is the whole table.
  const piped = vipant(['head', '-n', '5000'], {input: readFileSync(all)})
  assert.equal(tableFromIPC(piped.stdout, {useProxy: false}).numRows, 2000)

  const again = vipant(['concat', path.join(dir, 'a.arrow'), all, '-o', path.join(dir, 'c.arrow')])
  assert.equal(again.status, 0, again.stderr.toString())
  assert.deepEqual(ids(path.join(dir, 'c.arrow')), [...ids(all).slice(0, 1500), ...ids(all)])
})

test('concat refuses tables whose columns differ, naming the file', {skip: skipWithoutShared}, () => {
  const index = path.join(dir, 'index.arrow')
  const mel = path.join(dir, 'mel.arrow')
  assert.equal(vipant(['fetch', 'folder', sharedData('esc50', 'audio', '1-56234-A-9.wav'), '-o', index]).status, 0)
  assert.equal(vipant(['mel', index, '--max-len', '100', '-o', mel]).status, 0)
  const r = vipant(['concat', index, mel, '-o', path.join(dir, 'bad.arrow')])
  assert.equal(r.status, 2)
  assert.match(
    r.stderr.toString(),
    new RegExp(`^vipant concat: ${mel}: columns differ: .* \\(first table: ${index}\\)\\n$`),
  )
})
