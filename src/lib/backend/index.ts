/**
 * Which TensorFlow.js backend runs the models. Best first: `tensorflow-gpu` (@tensorflow/tfjs-node-gpu, CUDA),
 * `tensorflow` (@tensorflow/tfjs-node, libtensorflow on the CPU), `wasm` (XNNPACK with SIMD), `cpu` (plain
 * JavaScript, far too slow for ViT-B). The two native ones are optional dependencies whose install downloads
 * libtensorflow, so they are often absent; a package can also be on disk without its native binding, so a backend
 * counts only once `tf.setBackend()` has returned true for it.
 *
 * Cores: tfjs runs wasm on one thread under Node (tfjs issue 3830; see docs feasibility.md). Using all cores is the
 * next step: data-parallel worker_threads, each selecting its own backend and building its own tower from the same
 * weights (shared via SharedArrayBuffer), fed batches round-robin, as the mel stage's worker pool does for clips.
 */
import {createRequire} from 'node:module'
import os from 'node:os'
import path from 'node:path'
import * as tf from '@tensorflow/tfjs-core'
import {UserError} from '../util/errors.js'

export const BACKENDS = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const
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
  /** Imports and registers the backend; throws when the package or its native part is missing. */
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
    install: 'npm install @tensorflow/tfjs-node-gpu (its install downloads libtensorflow: needs network access, CUDA 11.2 and cuDNN 8.1)',
    describe: async () => 'tensorflow-gpu (libtensorflow with CUDA, @tensorflow/tfjs-node-gpu)',
  },
  tensorflow: {
    tfName: 'tensorflow',
    register: async () => void (await importOptional('@tensorflow/tfjs-node')),
    install: 'npm install @tensorflow/tfjs-node (its install downloads libtensorflow: needs network access)',
    describe: async () => 'tensorflow (libtensorflow on the CPU, @tensorflow/tfjs-node)',
  },
  wasm: {
    tfName: 'wasm',
    register: async () => {
      const wasm = await import('@tensorflow/tfjs-backend-wasm')
      // Under Node the backend cannot find its .wasm files by itself: point it at the package's dist/.
      wasm.setWasmPaths(path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep)
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

/** Tries one backend: true when it is installed and `tf.setBackend` accepted it (it is then the active one). */
async function activate(name: BackendName): Promise<boolean> {
  try {
    await SETUP[name].register()
    return await tf.setBackend(SETUP[name].tfName)
  } catch {
    return false
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
    if (!(await activate(name))) {
      const available: BackendName[] = []
      for (const other of BACKENDS) if (other !== name && (await activate(other))) available.push(other)
      throw new UserError(
        `backend ${name} is not available here; to add it: ${SETUP[name].install}; available: ${available.join(', ') || 'none'}`,
      )
    }
    return {name, description: `backend: ${await SETUP[name].describe()}`}
  }
  for (const name of BACKENDS) {
    if (await activate(name)) return {name, description: `backend: ${await SETUP[name].describe()}`}
  }
  throw new UserError(`no TensorFlow.js backend could start; ${SETUP.wasm.install}`)
}
