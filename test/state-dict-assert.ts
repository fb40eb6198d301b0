import assert from 'node:assert/strict'
import type {StateDict} from '../src/lib/checkpoint/tensor.js'
import {maxAbsDiff} from './helpers.js'

/** Same names in the same order, same shapes, same values (the checkpoint fixtures' weights are fp16-exact). */
export function assertSameState(actual: StateDict, expected: StateDict): void {
  assert.deepEqual([...actual.keys()], [...expected.keys()])
  for (const [name, t] of expected) {
    const a = actual.get(name)!
    assert.deepEqual(a.shape, t.shape, name)
    assert.equal(maxAbsDiff(a.data, t.data), 0, name)
  }
}
