import {Worker, type TransferListItem} from 'node:worker_threads'
import {forwardStderr, PIPED_STDERR} from './notes.js'

interface Pending {
  resolve: (value: unknown) => void
  reject: (error: Error) => void
}

/**
 * A set of at most `size` worker threads running one script, started as work arrives: a new one only when every
 * started one is busy, so a pool never holds more threads than it had tasks at once (--workers 1000 over two
 * clips starts two). Tasks go to the least busy worker; each worker may hold a few tasks at once so that time
 * spent waiting on a child process (ffmpeg) is not idle. The script answers every `{id, task}` message with
 * `{id, result}` or `{id, error}`.
 */
export class WorkerPool<Task, Result> {
  private readonly workers: {worker: Worker; busy: number}[] = []
  private readonly pending = new Map<number, Pending>()
  private readonly limit: number
  private nextId = 0
  /** Who waits for every task in flight to be answered. */
  private idle: (() => void)[] = []
  private broken: Error | undefined

  constructor(
    private readonly script: URL,
    size: number,
    private readonly workerData?: unknown,
  ) {
    this.limit = Math.max(1, size)
  }

  /** The most threads the pool will start. */
  get size(): number {
    return this.limit
  }

  /** Threads started so far. */
  get started(): number {
    return this.workers.length
  }

  run(task: Task, transfer: TransferListItem[] = []): Promise<Result> {
    if (this.broken) return Promise.reject(this.broken)
    let slot = this.workers.reduce<{worker: Worker; busy: number} | undefined>(
      (a, b) => (a && a.busy <= b.busy ? a : b),
      undefined,
    )
    if (!slot || (slot.busy > 0 && this.workers.length < this.limit)) slot = this.start()
    const id = this.nextId++
    slot.busy++
    return new Promise<Result>((resolve, reject) => {
      this.pending.set(id, {
        resolve: (value) => {
          slot.busy--
          resolve(value as Result)
        },
        reject: (error) => {
          slot.busy--
          reject(error)
        },
      })
      slot.worker.postMessage({id, task}, transfer)
    })
  }

  /**
   * Ends the threads once their tasks in flight are answered: terminating a thread inside a native call (an ONNX
   * Runtime session run) aborts the whole process, which hides the error that made the command stop early.
   */
  async close(): Promise<void> {
    if (this.pending.size > 0) await new Promise<void>((resolve) => this.idle.push(resolve))
    await Promise.all(this.workers.map((w) => w.worker.terminate()))
  }

  private start(): {worker: Worker; busy: number} {
    const worker = new Worker(this.script, {workerData: this.workerData, ...PIPED_STDERR})
    forwardStderr(worker)
    worker.on('message', (msg: {id: number; result?: unknown; error?: string}) => this.settle(msg))
    worker.on('error', (error) => this.fail(error))
    const slot = {worker, busy: 0}
    this.workers.push(slot)
    return slot
  }

  private settle(msg: {id: number; result?: unknown; error?: string}) {
    const pending = this.pending.get(msg.id)
    if (!pending) return
    this.pending.delete(msg.id)
    if (msg.error !== undefined) pending.reject(new Error(msg.error))
    else pending.resolve(msg.result)
    if (this.pending.size === 0) this.wake()
  }

  private wake() {
    for (const resolve of this.idle.splice(0)) resolve()
  }

  private fail(error: Error) {
    this.broken = error
    for (const p of this.pending.values()) p.reject(error)
    this.pending.clear()
    this.wake()
  }
}

/**
 * Maps `fn` over `items` with at most `window` calls in flight, yielding results in input order:
 * the consumer sees a stream that starts as soon as the first item is done.
 */
export async function* orderedMap<T, R>(
  items: AsyncIterable<T>,
  window: number,
  fn: (item: T) => Promise<R>,
): AsyncIterable<R> {
  const inFlight: Promise<R>[] = []
  for await (const item of items) {
    const p = fn(item)
    p.catch(() => {}) // awaited in order below; this only silences the early unhandled-rejection warning
    inFlight.push(p)
    if (inFlight.length >= window) yield await inFlight.shift()!
  }
  while (inFlight.length > 0) yield await inFlight.shift()!
}
