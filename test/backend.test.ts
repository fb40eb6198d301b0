import assert from 'node:assert/strict'
import {createRequire} from 'node:module'
import {describe, it} from 'node:test'
import * as tf from '@tensorflow/tfjs-core'
import {gpuDevices, selectBackend} from '../src/lib/backend/index.js'
import {UserError} from '../src/lib/util/errors.js'

const require = createRequire(import.meta.url)
const installed = (pkg: string) => {
  try {
    require.resolve(pkg)
    return true
  } catch {
    return false
  }
}
const nativeInstalled = installed('@tensorflow/tfjs-node') || installed('@tensorflow/tfjs-node-gpu')

describe('backend selection', () => {
  it(
    'picks the best backend present: wasm where the native ones are absent',
    {skip: nativeInstalled && 'tfjs-node is installed'},
    async () => {
      const backend = await selectBackend()
      assert.equal(backend.name, 'wasm')
      assert.equal(tf.getBackend(), 'wasm')
      assert.match(backend.description, /^backend: wasm \((no )?SIMD, \d+ threads?; \d+ cores\)$/)
    },
  )

  it('honours --backend cpu', async () => {
    const backend = await selectBackend('cpu')
    assert.equal(backend.name, 'cpu')
    assert.equal(tf.getBackend(), 'cpu')
    assert.equal(
      tf.tidy(() => tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]])).dataSync()[0]),
      11,
    )
    assert.equal((await selectBackend('wasm')).name, 'wasm') // and back
  })

  it('rejects an unknown backend, listing the known ones', async () => {
    await assert.rejects(selectBackend('webgl'), (e: Error) => {
      assert.ok(e instanceof UserError)
      assert.equal(e.message, 'unknown backend webgl; choose one of tensorflow-gpu, tensorflow, webgpu, wasm, cpu')
      return true
    })
  })

  it(
    'explains how to install a missing backend and lists the available ones',
    {skip: nativeInstalled && 'tfjs-node is installed'},
    async () => {
      await assert.rejects(selectBackend('tensorflow'), (e: Error) => {
        assert.ok(e instanceof UserError)
        assert.match(
          e.message,
          /^backend tensorflow is not available here; to add it: npm install @tensorflow\/tfjs-node \(.*network access\); available: wasm, cpu$/,
        )
        return true
      })
    },
  )

  it(
    'webgpu without a GPU: refused in one line when asked for, skipped silently when choosing',
    {skip: gpuDevices().length > 0 && 'this machine has a GPU'},
    async () => {
      await assert.rejects(selectBackend('webgpu'), (e: Error) => {
        assert.ok(e instanceof UserError)
        assert.match(
          e.message,
          /^backend webgpu is not available here: no GPU adapter \(no \/dev\/dri\/renderD\* or \/dev\/nvidia\* device\); available: (.+, )?wasm, cpu$/,
        )
        return true
      })
      assert.notEqual((await selectBackend()).name, 'webgpu')
    },
  )
})
