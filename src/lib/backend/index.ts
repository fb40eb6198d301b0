/**
 * Which TensorFlow.js backend runs the models. Best first: `tensorflow-gpu` (@tensorflow/tfjs-node-gpu, CUDA),
 * `tensorflow` (@tensorflow/tfjs-node, libtensorflow on the CPU), `webgpu` (@tensorflow/tfjs-backend-webgpu on the
 * `webgpu` package's Dawn: a GPU with a Vulkan driver, nothing to download), `wasm` (XNNPACK with SIMD), `cpu` (plain
 * JavaScript, far too slow for ViT-B). The native and GPU ones are optional dependencies, so they are often absent; a
 * package can also be on disk without its native binding or a GPU to drive, so a backend counts only once
 * `tf.setBackend()` has returned true for it.
 *
 * Cores: tfjs runs wasm on one thread under Node (tfjs issue 3830), so vipant uses every
 * core with data-parallel worker threads, each selecting its own backend and building its own towers: embedding
 * (src/lib/model/embedder.ts) and training (src/lib/train/data-parallel.ts).
 */
import {existsSync, readdirSync} from 'node:fs'
import {createRequire} from 'node:module'
import os from 'node:os'
import path from 'node:path'
import * as tf from '@tensorflow/tfjs-core'
import {UserError} from '../util/errors.js'
import {patchWasmKernels} from './wasm-kernels.js'

export const BACKENDS = ['tensorflow-gpu', 'tensorflow', 'webgpu', 'wasm', 'cpu'] as const
export type BackendName = (typeof BACKENDS)[number]

export interface Backend {
  name: BackendName
  /** One line for stderr, e.g. "backend: wasm (SIMD, 1 thread)". */
  description: string
}

const require = createRequire(import.meta.url)

interface Setup {
  /** The name the package registers with tfjs-core. */
  tfName: string
  /**
   * Imports and registers the backend; throws when the package or its native part is missing (a `NotUsable` when
   * the package is there but cannot run here).
   */
  register(): Promise<void>
  install: string
  describe(): Promise<string>
}

/** A specifier in a variable, so that TypeScript does not require the optional packages to be installed. */
const importOptional = (specifier: string) => import(specifier)

const SETUP: Record<BackendName, Setup> = {
  'tensorflow-gpu': {
    tfName: 'tensorflow',
    register: async () => void (await importOptional('@tensorflow/tfjs-node-gpu')),
    install:
      'npm install @tensorflow/tfjs-node-gpu (its install downloads libtensorflow: needs network access, CUDA 11.2 and cuDNN 8.1)',
    describe: async () => 'tensorflow-gpu (libtensorflow with CUDA, @tensorflow/tfjs-node-gpu)',
  },
  tensorflow: {
    tfName: 'tensorflow',
    register: async () => void (await importOptional('@tensorflow/tfjs-node')),
    install: 'npm install @tensorflow/tfjs-node (its install downloads libtensorflow: needs network access)',
    describe: async () => 'tensorflow (libtensorflow on the CPU, @tensorflow/tfjs-node)',
  },
  webgpu: {
    tfName: 'webgpu',
    register: async () => {
      // Dawn logs to stderr while it looks for adapters: without a GPU device there is nothing to look for.
      if (gpuDevices().length === 0) throw new NotUsable('no GPU adapter (no /dev/dri/renderD* or /dev/nvidia* device)')
      const {create, globals} = (await importOptional('webgpu')) as {
        create(options: string[]): GpuLike
        globals: object
      }
      const gpu = create([])
      if (!(await gpu.requestAdapter())) throw new NotUsable('Dawn found no GPU adapter (a Vulkan driver is needed)')
      // tfjs-backend-webgpu looks for the browser's navigator.gpu and WebGPU's global constants.
      Object.assign(globalThis, globals)
      const global = globalThis as {navigator?: {gpu?: GpuLike}}
      global.navigator ??= {}
      global.navigator.gpu = gpu
      await importOptional('@tensorflow/tfjs-backend-webgpu')
    },
    install: 'npm install webgpu @tensorflow/tfjs-backend-webgpu (and a GPU with a Vulkan driver)',
    describe: async () => 'webgpu (Dawn through the webgpu package, @tensorflow/tfjs-backend-webgpu)',
  },
  wasm: {
    tfName: 'wasm',
    register: async () => {
      const wasm = await import('@tensorflow/tfjs-backend-wasm')
      // Under Node the backend cannot find its .wasm files by itself: point it at the package's dist/.
      wasm.setWasmPaths(
        path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep,
      )
      patchWasmKernels()
    },
    install: 'npm install @tensorflow/tfjs-backend-wasm',
    describe: async () => {
      const {getThreadsCount} = await import('@tensorflow/tfjs-backend-wasm')
      const simd = (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) ? 'SIMD' : 'no SIMD'
      const threads = getThreadsCount()
      return `wasm (${simd}, ${threads} thread${threads === 1 ? '' : 's'}; ${os.availableParallelism()} cores)`
    },
  },
  cpu: {
    tfName: 'cpu',
    register: async () => void (await import('@tensorflow/tfjs-backend-cpu')),
    install: 'npm install @tensorflow/tfjs-backend-cpu',
    describe: async () => 'cpu (plain JavaScript: slow for ViT-size models)',
  },
}

interface GpuLike {
  requestAdapter(): Promise<unknown>
}

/** A backend whose packages are installed but which cannot run on this machine. */
class NotUsable extends Error {}

/** GPU device nodes (DRM render nodes, NVIDIA's), without which no WebGPU adapter can exist. */
export function gpuDevices(): string[] {
  const dri = existsSync('/dev/dri')
    ? readdirSync('/dev/dri')
        .filter((f) => f.startsWith('renderD'))
        .map((f) => `/dev/dri/${f}`)
    : []
  return [...dri, ...['/dev/nvidia0', '/dev/dxg'].filter((f) => existsSync(f))]
}

/**
 * Tries one backend: true when it is installed and `tf.setBackend` accepted it (it is then the active one), else
 * why not, when its packages are there.
 */
async function activate(name: BackendName): Promise<true | {unusable?: string}> {
  try {
    await SETUP[name].register()
    return (await tf.setBackend(SETUP[name].tfName)) || {}
  } catch (error) {
    return error instanceof NotUsable ? {unusable: error.message} : {}
  }
}

/**
 * Makes `requested` (a `--backend` value) or else the best available backend the active one. An unknown or
 * unavailable request is a UserError naming what is available and how to install what is not.
 */
export async function selectBackend(requested?: string): Promise<Backend> {
  if (requested !== undefined) {
    if (!(BACKENDS as readonly string[]).includes(requested)) {
      throw new UserError(`unknown backend ${requested}; choose one of ${BACKENDS.join(', ')}`)
    }
    const name = requested as BackendName
    const result = await activate(name)
    if (result !== true) {
      const available: BackendName[] = []
      for (const other of BACKENDS) if (other !== name && (await activate(other)) === true) available.push(other)
      const why = result.unusable ? `: ${result.unusable}` : `; to add it: ${SETUP[name].install}`
      throw new UserError(`backend ${name} is not available here${why}; available: ${available.join(', ') || 'none'}`)
    }
    return {name, description: `backend: ${await SETUP[name].describe()}`}
  }
  for (const name of BACKENDS) {
    if ((await activate(name)) === true) return {name, description: `backend: ${await SETUP[name].describe()}`}
  }
  throw new UserError(`no TensorFlow.js backend could start; ${SETUP.wasm.install}`)
}
