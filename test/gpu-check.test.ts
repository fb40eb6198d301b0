import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {describe, it} from 'node:test'
import {gpuDevices} from '../src/lib/backend/index.js'
import {loadRuntime} from '../src/lib/onnx/runtime.js'
import {repoRoot} from './helpers.js'

// `npm run gpu-check` (bench/gpu-check.ts) is written to run unattended on a GPU machine lent for minutes: these
// tests run it where there is no GPU, as is, and as a rehearsal with CPU engines standing in for the GPU ones.
const SCRIPT = path.join(repoRoot, 'dist', 'bench', 'gpu-check.js')
const noGpu = gpuDevices().length === 0 ? false : 'this machine has a GPU device: run npm run gpu-check'
const noRuntime = (await loadRuntime()) ? false : 'onnxruntime-node is not installed'

const gpuCheck = (args: string[]) =>
  spawnSync(process.execPath, [SCRIPT, ...args], {encoding: 'utf8', timeout: 280_000})

describe('npm run gpu-check', () => {
  it('without a GPU: one line, exit 0, no results file, in seconds', {skip: noGpu}, () => {
    const out = path.join(mkdtempSync(path.join(os.tmpdir(), 'vipant-gpu-check-')), 'gpu-check.json')
    const start = Date.now()
    const run = gpuCheck(['--out', out])
    assert.equal(run.status, 0, run.stderr)
    assert.equal(
      run.stdout,
      'gpu-check: no GPU on this machine (no /dev/nvidia* or /dev/dri/renderD* device); nothing to check\n',
    )
    assert.equal(run.stderr, '')
    assert.equal(existsSync(out), false)
    assert.ok(Date.now() - start < 20_000, `took ${Date.now() - start} ms`)
  })

  it(
    'rehearsal: every section runs on the CPU stand-ins and its figures land in the JSON',
    {skip: noRuntime, timeout: 300_000},
    () => {
      const out = path.join(mkdtempSync(path.join(os.tmpdir(), 'vipant-gpu-check-')), 'gpu-check.json')
      const run = gpuCheck(['--rehearse', '--out', out])
      assert.equal(run.status, 0, run.stdout + run.stderr)
      const report = JSON.parse(readFileSync(out, 'utf8'))
      assert.equal(report.complete, true)
      assert.equal(report.stage, 'done')
      assert.deepEqual(
        report.paths.map((p: {path: {name: string}; usable: boolean}) => [p.path.name, p.usable]),
        [
          ['tfjs wasm', true],
          ['ort cpu', true],
        ],
      )
      assert.equal(report.paths[0].syncRead, 'ok')

      // Parity: the CPU engines meet the CPU tests' 1e-4, well inside the GPU tolerance, on all six fixture cases each.
      const parity = report.parity.rows as {status: string; max_abs_error: number; tolerance: number}[]
      assert.equal(parity.length, 12)
      for (const r of parity)
        assert.ok(r.status === 'PASS' && r.max_abs_error <= 1e-4 && r.tolerance > 1e-3, JSON.stringify(r))

      // Throughput: 3 towers x 3 batches x (2 stand-ins + the reference); a row is measured or says why not.
      const rows = report.throughput.rows as {
        path: string
        batch: number
        runs_s: number[]
        inputs_per_s?: number
        speedup_over_cpu?: number
        note?: string
      }[]
      assert.equal(rows.length, 27)
      assert.deepEqual([...new Set(rows.map((r) => r.batch))], [1, 8, 64])
      for (const r of rows) assert.ok((r.inputs_per_s! > 0 && r.runs_s.length >= 1) || r.note, JSON.stringify(r))
      for (const r of rows.filter((r) => r.path === 'ort cpu (reference)' && r.inputs_per_s))
        assert.equal(r.speedup_over_cpu, 1)
      assert.ok(rows.filter((r) => r.batch === 1).every((r) => r.inputs_per_s! > 0))

      // Training: batch 8 and 64 on the tfjs stand-in; its batch-8 loss is wasm's own, so it matches exactly.
      const training = report.training
      assert.deepEqual(
        training.rows.map((r: {batch: number}) => r.batch),
        [8, 64],
      )
      const [b8] = training.rows
      assert.ok(Number.isFinite(b8.loss) && b8.step_s > 0 && b8.first_step_s > 0)
      assert.deepEqual(
        training.loss.map((l: {status: string; abs_difference: number}) => [l.status, l.abs_difference]),
        [['PASS', 0]],
      )
      assert.equal(training.loss[0].loss_wasm, b8.loss)

      assert.match(run.stdout, /^parity with PyTorch/m)
      assert.match(run.stdout, /^throughput, tiny towers/m)
      assert.match(run.stdout, /^training step, tiny audio tower/m)
      assert.match(run.stdout, /^done in \d+ s; wrote /m)
    },
  )
})
