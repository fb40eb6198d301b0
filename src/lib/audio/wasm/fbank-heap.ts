import {FBANK_WASM} from './fbank-module.js'

/** What wasm/fbank.c exports. Pointers are byte offsets into `memory`. */
interface FbankExports {
  memory: WebAssembly.Memory
  __heap_base: WebAssembly.Global
  fbank(plan: number, wave: number, frames: number, out: number): void
  power_spectrum(fft: number, frame: number, out: number): void
  subtract(wave: number, length: number, value: number): void
}

const PAGE = 65536

/**
 * The fbank module's instance in this thread and its memory: tables that live as long as the thread are allocated
 * once from the bottom (`allocate`); above them, each call lays out its input and output (`scratch`), valid until
 * the next allocation. Views into the memory are taken after any allocation, which may grow it.
 */
class FbankHeap {
  readonly exports: FbankExports
  private top: number

  constructor() {
    const module = new WebAssembly.Module(Buffer.from(FBANK_WASM, 'base64'))
    this.exports = new WebAssembly.Instance(module, {}).exports as unknown as FbankExports
    this.top = align(this.exports.__heap_base.value as number)
  }

  /** Zeroed bytes for the lifetime of the thread, 16-byte aligned (scratch may have used them before). */
  allocate(bytes: number): number {
    const at = this.top
    this.top = align(at + bytes)
    this.reserve(this.top)
    new Uint8Array(this.exports.memory.buffer, at, bytes).fill(0)
    return at
  }

  /** Bytes above every allocation, 16-byte aligned, holding whatever was last written there; valid until the next `allocate`. */
  scratch(bytes: number): number {
    this.reserve(this.top + bytes)
    return this.top
  }

  f64(at: number, length: number): Float64Array {
    return new Float64Array(this.exports.memory.buffer, at, length)
  }

  f32(at: number, length: number): Float32Array {
    return new Float32Array(this.exports.memory.buffer, at, length)
  }

  i32(at: number, length: number): Int32Array {
    return new Int32Array(this.exports.memory.buffer, at, length)
  }

  /** Writes a C struct of 32-bit fields (ints and pointers), after `doubles` leading float64 fields. */
  writeStruct(at: number, doubles: number[], words: number[]): void {
    this.f64(at, doubles.length).set(doubles)
    this.i32(at + 8 * doubles.length, words.length).set(words)
  }

  private reserve(end: number): void {
    const memory = this.exports.memory
    if (end > memory.buffer.byteLength) memory.grow(Math.ceil((end - memory.buffer.byteLength) / PAGE))
  }
}

function align(n: number): number {
  return (n + 15) & ~15
}

let heap: FbankHeap | undefined

/** This thread's instance of the fbank module (one per worker thread: instances do not share memory). */
export function fbankHeap(): FbankHeap {
  heap ??= new FbankHeap()
  return heap
}
