import {test} from 'node:test'
import assert from 'node:assert/strict'
import {vipant} from './cli.js'
import {sharedData, skipWithoutShared} from './helpers.js'

test(
  'a table already waiting on stdin is read as the table, not taken as a missing argument',
  {skip: skipWithoutShared},
  () => {
    // oclif fills a missing positional argument from stdin within 10 ms unless told not to; input handed
    // over before the process starts is the case that loses that race every time.
    const table = vipant(['fetch', 'esc50', sharedData('esc50')]).stdout
    for (const command of [
      ['inspect', '--json'],
      ['mel', '--max-len', '100', '-o', '/dev/null'],
    ]) {
      const r = vipant(command, {input: table})
      assert.equal(r.status, 0, `${command[0]}: ${r.stderr}`)
    }
    const summary = JSON.parse(vipant(['inspect', '--json'], {input: table}).stdout.toString())
    assert.equal(summary.source, 'stdin')
    assert.equal(summary.rows, 2000)
    const fold = summary.columns.find((c: {name: string}) => c.name === 'fold')
    assert.deepEqual([fold.min, fold.max, fold.mean, fold.nulls], [1, 5, 3, 0])
    const status = summary.columns.find((c: {name: string}) => c.name === 'status')
    assert.deepEqual(status.top, [
      ['missing', 1994],
      ['ok', 6],
    ])
    assert.deepEqual(
      summary.stages.map((s: {command: string}) => s.command),
      ['fetch'],
    )
  },
)
