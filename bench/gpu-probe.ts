/**
 * What `npm run gpu-check` finds before it measures anything: the GPU and its driver (nvidia-smi), what Dawn (the
 * `webgpu` package) sees, the libraries each GPU path needs, and which GPU paths start. Every probe is bounded in
 * time and reports a failure as a reason, never as a crash.
 */
import {execFileSync} from 'node:child_process'
import {existsSync, readdirSync} from 'node:fs'
import * as tf from '@tensorflow/tfjs-core'
import {gpuDevices} from '../src/lib/backend/index.js'
import {checkProvider, loadRuntime} from '../src/lib/onnx/runtime.js'
import {activate, type GpuPath} from './gpu-paths.js'

const firstLine = (error: unknown) => (error instanceof Error ? error.message : String(error)).split('\n')[0]

function run(command: string, args: string[]): string | undefined {
  try {
    return execFileSync(command, args, {encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore']}).trim()
  } catch {
    return undefined
  }
}

/** Device-wide GPU memory in use (MiB) per GPU, from nvidia-smi; undefined without it. */
export function nvidiaMemoryUsedMiB(): number[] | undefined {
  const out = run('nvidia-smi', ['--query-gpu=memory.used', '--format=csv,noheader,nounits'])
  return out ? out.split('\n').map(Number) : undefined
}

function nvidia(): Record<string, unknown> {
  const query = run('nvidia-smi', ['--query-gpu=name,driver_version,memory.total,compute_cap', '--format=csv,noheader'])
  if (query === undefined) return {found: false}
  const cuda = run('nvidia-smi', [])?.match(/CUDA Version:\s*([\d.]+)/)?.[1]
  return {found: true, gpus: query.split('\n'), cuda_driver_api: cuda}
}

/** The Vulkan loader and ICD manifests: Dawn needs both for the GPU (NVIDIA's manifest is nvidia_icd.json) or it finds no adapter. */
function vulkanIcds(): string[] {
  // The last: where a container runtime mounts the driver (read-only; point VK_DRIVER_FILES at its manifest).
  const dirs = [
    '/usr/share/vulkan/icd.d',
    '/etc/vulkan/icd.d',
    '/usr/local/share/vulkan/icd.d',
    '/usr/local/nvidia/share/vulkan/icd.d',
  ]
  const files = dirs.filter(existsSync).flatMap((d) => readdirSync(d).map((f) => `${d}/${f}`))
  const loader = (run('ldconfig', ['-p']) ?? '').includes('libvulkan.so.1')
    ? 'libvulkan.so.1 found'
    : 'libvulkan.so.1 (the Vulkan loader) missing'
  const env = ['VK_DRIVER_FILES', 'VK_ICD_FILENAMES'].filter((v) => process.env[v]).map((v) => `${v}=${process.env[v]}`)
  return [loader, ...files, ...env]
}

/** The CUDA 11.2 / cuDNN 8 libraries tfjs-node-gpu's libtensorflow 2.9 loads, as the dynamic linker sees them. */
function cudaLibraries(): Record<string, boolean> {
  const cache = run('ldconfig', ['-p']) ?? ''
  const paths = (process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean)
  const found = (lib: string) => cache.includes(lib) || paths.some((p) => existsSync(`${p}/${lib}`))
  return Object.fromEntries(
    ['libcuda.so.1', 'libcudart.so.11.0', 'libcublas.so.11', 'libcudnn.so.8'].map((lib) => [lib, found(lib)]),
  )
}

async function dawnAdapter(): Promise<Record<string, unknown>> {
  try {
    const specifier = 'webgpu' // optional package
    const {create} = (await import(specifier)) as {
      create(options: string[]): {requestAdapter(): Promise<Adapter | null>}
    }
    const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 20_000).unref())
    const adapter = await Promise.race([create([]).requestAdapter(), timeout])
    if (adapter === 'timeout') return {found: false, reason: 'requestAdapter did not answer in 20 s'}
    if (!adapter) return {found: false, reason: 'Dawn found no adapter (is a Vulkan ICD for this GPU installed?)'}
    const {vendor, architecture, device, description} = adapter.info ?? {}
    const {maxBufferSize, maxStorageBufferBindingSize} = adapter.limits
    return {found: true, vendor, architecture, device, description, maxBufferSize, maxStorageBufferBindingSize}
  } catch (error) {
    return {found: false, reason: firstLine(error)}
  }
}

interface Adapter {
  info?: {vendor: string; architecture: string; device: string; description: string}
  limits: {maxBufferSize: number; maxStorageBufferBindingSize: number}
}

export interface PathProbe {
  path: GpuPath
  usable: boolean
  /** The backend's own description, or why the path cannot run. */
  note: string
  /**
   * tfjs only: whether a synchronous read of a GPU-resident tensor works (dataSync, which vipant's embed and trainer
   * use); the webgpu backend needs an OffscreenCanvas for it, which Node lacks.
   */
  syncRead?: string
}

/** A 64x64 matrix product, large enough to run on the GPU (webgpu hands tensors under 1000 values to the CPU), read synchronously. */
function syncRead(): string {
  try {
    const out = tf.tidy(() => tf.matMul(tf.ones([64, 64]), tf.ones([64, 64])))
    const value = out.dataSync()[0]
    out.dispose()
    return value === 64 ? 'ok' : `wrong value ${value}`
  } catch (error) {
    return `fails: ${firstLine(error)}`
  }
}

async function probePath(path: GpuPath): Promise<PathProbe> {
  try {
    if (path.engine === 'ort') {
      await checkProvider(path.provider)
      return {
        path,
        usable: true,
        note: `onnxruntime-node ${(await loadRuntime())?.env.versions?.node ?? '?'}, provider ${path.provider}`,
      }
    }
    const note = await activate(path)
    // A GPU build of libtensorflow without CUDA libraries runs on the CPU.
    const onGpu = (tf.backend() as {isUsingGpuDevice?: boolean}).isUsingGpuDevice
    if (path.backend === 'tensorflow-gpu' && onGpu === false) {
      return {path, usable: false, note: `${note}: libtensorflow found no CUDA device and runs on the CPU`}
    }
    return {path, usable: true, note, syncRead: syncRead()}
  } catch (error) {
    return {path, usable: false, note: firstLine(error)}
  }
}

/** The GPU paths: tfjs webgpu, tfjs tensorflow-gpu, ORT webgpu; in a rehearsal, CPU engines under their names. */
export function candidatePaths(rehearse: boolean): GpuPath[] {
  if (!rehearse) {
    return [
      {name: 'tfjs webgpu', engine: 'tfjs', backend: 'webgpu'},
      {name: 'tfjs tensorflow-gpu', engine: 'tfjs', backend: 'tensorflow-gpu'},
      {name: 'ort webgpu', engine: 'ort', provider: 'webgpu'},
    ]
  }
  return [
    {name: 'tfjs wasm', standsInFor: 'tfjs webgpu, tfjs tensorflow-gpu', engine: 'tfjs', backend: 'wasm'},
    {name: 'ort cpu', standsInFor: 'ort webgpu', engine: 'ort', provider: 'cpu'},
  ]
}

/** `onPath` is told each path before it is started (a native crash there ends the process). */
export async function probe(
  rehearse: boolean,
  onPath: (name: string) => void,
): Promise<{machine: Record<string, unknown>; paths: PathProbe[]}> {
  const ort = await loadRuntime()
  const machine = {
    devices: gpuDevices(),
    nvidia: nvidia(),
    vulkan_icds: vulkanIcds(),
    cuda_libraries: cudaLibraries(),
    dawn: gpuDevices().length ? await dawnAdapter() : {found: false, reason: 'no GPU device node'},
    onnxruntime_backends: ort
      ? ort.listSupportedBackends().map((b) => `${b.name}${b.bundled ? '' : ' (not bundled)'}`)
      : 'onnxruntime-node not installed',
  }
  const paths: PathProbe[] = []
  for (const path of candidatePaths(rehearse)) {
    onPath(path.name)
    paths.push(await probePath(path))
  }
  return {machine, paths}
}
