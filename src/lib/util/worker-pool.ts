import {parentPort, Worker, type TransferListItem} from 'node:worker_threads'
import {forwardStderr, PIPED_STDERR} from './notes.js'

/** What the pool sends a thread to end it, once every task sent to it is answered. */
const CLOSE = 'close'
/** How long a thread asked to end may take before it is terminated (a script that keeps a handle open). */
const CLOSE_GRACE_MS = 2000

interface Thread {
  worker: Worker
  /** Tasks sent to it and not yet answered. */
  busy: number
  exited: boolean
}

interface Pending {
  resolve: (value: unknown) => void
  reject: (error: Error) => void
  /** The thread it was sent to (none while it waits in the queue). */
  thread?: Thread
}

interface Queued {
  id: number
  task: unknown
  transfer: TransferListItem[]
}

/**
 * A set of at most `size` worker threads running one script, started as work arrives: a new one only
 * when every started one is busy, so a pool never holds more threads than it had tasks at once
 * (--workers 1000 over two clips starts two). Tasks go to the least busy worker; each worker may hold a few tasks
 * at once (at most `depth`, the rest wait here) so that time spent waiting on a child process (ffmpeg) is not idle.
 * The script serves its tasks with serveTasks.
 */
export class WorkerPool<Task, Result> {
  private readonly workers: Thread[] = []
  private readonly pending = new Map<number, Pending>()
  /** Tasks no thread has room for yet, in order. */
  private readonly queue: Queued[] = []
  private readonly limit: number
  private nextId = 0
  /** Who waits for every task in flight to be answered. */
  private idle: (() => void)[] = []
  private broken: Error | undefined

  /**
   * @param depth the most tasks a thread holds at once: two keep it busy between answers; more let tasks wait behind
   * a long one on one thread while another thread idles at the end of a run
   */
  constructor(
    private readonly script: URL,
    size: number,
    private readonly workerData?: unknown,
    private readonly depth = Infinity,
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
    const id = this.nextId++
    return new Promise<Result>((resolve, reject) => {
      this.pending.set(id, {resolve: (value) => resolve(value as Result), reject})
      this.queue.push({id, task, transfer})
      this.dispatch()
    })
  }

  /** Sends queued tasks to the least busy threads with room, starting threads while every started one is busy. */
  private dispatch() {
    while (this.queue.length > 0) {
      let thread = this.workers.reduce<Thread | undefined>((a, b) => (a && a.busy <= b.busy ? a : b), undefined)
      if (!thread || (thread.busy > 0 && this.workers.length < this.limit)) thread = this.start()
      if (thread.busy >= this.depth) return
      const {id, task, transfer} = this.queue.shift()!
      thread.busy++
      this.pending.get(id)!.thread = thread
      thread.worker.postMessage({id, task}, transfer)
    }
  }

  /**
   * Ends the threads once their tasks in flight are answered: terminating a thread inside a native call (an ONNX
   * Runtime session run) aborts the whole process, which hides the error that made the command stop early. Each is
   * asked to end by itself (serveTasks), which passes on everything it wrote to stderr: a terminated thread loses
   * what it still buffered, lines written just before its last answer.
   */
  async close(): Promise<void> {
    if (this.pending.size > 0) await new Promise<void>((resolve) => this.idle.push(resolve))
    await Promise.all(this.workers.map(end))
  }

  private start(): Thread {
    const worker = new Worker(this.script, {workerData: this.workerData, ...PIPED_STDERR})
    forwardStderr(worker)
    worker.on('message', (msg: {id: number; result?: unknown; error?: string}) => this.settle(msg))
    worker.on('error', (error) => this.fail(error))
    const thread = {worker, busy: 0, exited: false}
    worker.once('exit', () => (thread.exited = true))
    this.workers.push(thread)
    return thread
  }

  private settle(msg: {id: number; result?: unknown; error?: string}) {
    const pending = this.pending.get(msg.id)
    if (!pending) return
    this.pending.delete(msg.id)
    pending.thread!.busy--
    if (msg.error !== undefined) pending.reject(new Error(msg.error))
    else pending.resolve(msg.result)
    this.dispatch()
    if (this.pending.size === 0) this.wake()
  }

  private wake() {
    for (const resolve of this.idle.splice(0)) resolve()
  }

  private fail(error: Error) {
    this.broken = error
    for (const p of this.pending.values()) p.reject(error)
    this.pending.clear()
    this.queue.length = 0
    this.wake()
  }
}

function end(thread: Thread): Promise<void> {
  if (thread.exited) return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(() => void thread.worker.terminate(), CLOSE_GRACE_MS)
    thread.worker.once('exit', () => {
      clearTimeout(timer)
      resolve()
    })
    thread.worker.postMessage(CLOSE)
  })
}

/** A thread's answer to one task, with the buffers to move rather than copy. */
export interface Answer<Result> {
  result: Result
  transfer?: TransferListItem[]
}

/**
 * The thread's side of a WorkerPool, for its script to call once: answers every `{id, task}` with `{id, result}`
 * or `{id, error}`, and on the pool's close stops listening, so that the thread ends by itself.
 */
export function serveTasks<Task, Result>(answer: (task: Task) => Promise<Answer<Result>>): void {
  const port = parentPort!
  port.on('message', (message: {id: number; task: Task} | typeof CLOSE) => {
    if (message === CLOSE) port.close()
    else void reply(message.id, message.task)
  })
  async function reply(id: number, task: Task): Promise<void> {
    try {
      const {result, transfer = []} = await answer(task)
      port.postMessage({id, result}, transfer)
    } catch (error) {
      port.postMessage({id, error: error instanceof Error ? error.message : String(error)})
    }
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
