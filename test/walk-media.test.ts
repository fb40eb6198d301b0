import {test} from 'node:test'
import assert from 'node:assert/strict'
import {mkdirSync, mkdtempSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {walkMedia} from '../src/lib/data/media.js'

test('walkMedia names each file as path.join(DIR, the path below it) does, however DIR is spelt', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'vipant-walk-'))
  for (const file of ['a.wav', 'sub/b.mp3', 'sub/deeper/c.flac', 'sub/notes.txt']) {
    mkdirSync(path.dirname(path.join(root, file)), {recursive: true})
    writeFileSync(path.join(root, file), '')
  }
  const cwd = process.cwd()
  process.chdir(path.dirname(root))
  try {
    const base = path.basename(root)
    for (const dir of [root, `${root}/`, base, `./${base}/`, `${base}//sub/..`]) {
      const found = [...walkMedia(dir)].sort((x, y) => x.relative.localeCompare(y.relative))
      assert.deepEqual(
        found.map((f) => f.relative),
        ['a.wav', path.join('sub', 'b.mp3'), path.join('sub', 'deeper', 'c.flac')],
        dir,
      )
      for (const f of found) assert.equal(f.file, path.join(dir, f.relative), dir)
    }
    process.chdir(root)
    for (const dir of ['.', './']) {
      const found = [...walkMedia(dir)]
      assert.equal(found.length, 3, dir)
      for (const f of found) assert.equal(f.file, path.join(dir, f.relative), dir)
    }
  } finally {
    process.chdir(cwd)
  }
})
