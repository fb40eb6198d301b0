import {test} from 'node:test'
import assert from 'node:assert/strict'
import {mkdtempSync, readdirSync, readFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {tableFromIPC} from '@uwdata/flechette'
import {vipant} from './cli.js'
import {sharedData, skipWithoutShared} from './helpers.js'

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'vipant-fetch-'))

test('fetch esc50 DIR -o: the index table, read back by an independent reader', {skip: skipWithoutShared}, () => {
  const out = path.join(tmp(), 'esc50.arrow')
  const r = vipant(['fetch', 'esc50', sharedData('esc50'), '-o', out])
  assert.equal(r.status, 0, r.stderr.toString())
  assert.equal(r.stderr.toString(), 'fetch esc50: 2000 clips, 6 on disk, 1994 missing on disk (status "missing")\n')
  const table = tableFromIPC(readFileSync(out), {useProxy: false})
  assert.equal(table.numRows, 2000)
  const row = table.toArray().find((x) => x.id === '1-100038-A-14') as Record<string, unknown>
  assert.deepEqual(
    {fold: row.fold, label: row.label, class: row.class, status: row.status, dataset: row.dataset},
    {fold: 1, label: 14, class: 'chirping_birds', status: 'missing', dataset: 'esc50'},
  )
})

test('fetch --strict fails on the first missing clip, naming it, and writes nothing', {skip: skipWithoutShared}, () => {
  const dir = tmp()
  const r = vipant(['fetch', 'esc50', sharedData('esc50'), '--strict', '-o', path.join(dir, 'x.arrow')])
  assert.equal(r.status, 2)
  assert.match(
    r.stderr.toString(),
    /^vipant fetch: \S+1-100032-A-0\.wav: listed in the metadata but not on disk \(--strict\)\n$/,
  )
  assert.deepEqual(readdirSync(dir), [])
})

test('fetch without DIR looks in $VIPANT_HOME/data and says how to name one', () => {
  const home = tmp()
  const r = vipant(['fetch', 'us8k', '-o', path.join(home, 'x.arrow')], {env: {VIPANT_HOME: home}})
  assert.equal(r.status, 2)
  assert.equal(
    r.stderr.toString(),
    `vipant fetch: us8k is not in ${path.join(home, 'data', 'us8k')}: name its directory (vipant fetch us8k DIR), or --download it\n`,
  )
})

test('fetch of a directory without the layout names the file it expected', () => {
  const dir = tmp()
  const r = vipant(['fetch', 'clotho', dir], {input: Buffer.alloc(0)})
  assert.equal(r.status, 2)
  assert.equal(r.stdout.length, 0)
  assert.match(r.stderr.toString(), new RegExp(`^vipant fetch: ${dir}.*clotho_captions`))
})
