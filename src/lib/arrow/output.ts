import {createWriteStream, openSync} from 'node:fs'
import {claimTemp, isSpecialFile} from '../util/atomic-write.js'
import {rename, rm} from 'node:fs/promises'
import {checkOutputPath} from '../util/output-path.js'
import {once} from 'node:events'
import {RecordBatch, RecordBatchFileWriter, RecordBatchStreamWriter, type Schema} from './apache-arrow.js'
import {UserError} from '../util/errors.js'

export interface TableOutput {
  /** Where rows go, for messages: the path, or "stdout". */
  target: string
  /** Resolves once the batch's bytes are with the operating system: the caller may then reuse its memory. */
  write(batch: RecordBatch): Promise<void>
  /** Completes the table; a file appears under its name only now. */
  close(): Promise<void>
  /** Drops a partial output: nothing is left under the target name. */
  abort(): Promise<void>
}

export const TTY_HINT = 'refusing to write binary Arrow to a terminal: pipe into another vipant command or use -o FILE'

/**
 * Writes a table to `path`, or to stdout when no path (or "-") is given. A file ending in `.arrow`
 * or `.feather` gets the IPC file format (random access), anything else and stdout the IPC stream
 * format. Files are written under a temporary name (.NAME.PID.tmp beside it) and renamed when complete; the
 * temporary file is removed on failure, on exit and on SIGINT/SIGTERM (which then end the process with 130/143),
 * and stale ones left by processes that died harder (SIGKILL, power loss) are removed on the next write.
 */
export function openTableOutput(
  schema: Schema,
  outPath: string | undefined,
  stdout: NodeJS.WriteStream = process.stdout,
): TableOutput {
  if (outPath === undefined || outPath === '-') {
    if (stdout.isTTY) throw new UserError(TTY_HINT)
    return sinkOutput(schema, stdout, 'stdout', new RecordBatchStreamWriter(), async () => {})
  }
  checkOutputPath(outPath)
  const writer = /\.(arrow|feather)$/i.test(outPath) ? new RecordBatchFileWriter() : new RecordBatchStreamWriter()
  if (isSpecialFile(outPath)) return sinkOutput(schema, createWriteStream(outPath), outPath, writer, async () => {})
  const {path: temp, release} = claimTemp(outPath)
  let fd: number
  try {
    // Opened here, not by the stream later: a failure is this call's error, not an event nobody awaits.
    fd = openSync(temp, 'w')
  } catch (error) {
    release()
    throw new UserError(`${outPath}: cannot write: ${(error as Error).message}`)
  }
  const file = createWriteStream(temp, {fd})
  return sinkOutput(schema, file, outPath, writer, async (ok) => {
    if (!file.closed) {
      file.end()
      await once(file, 'close')
    }
    if (ok) await rename(temp, outPath)
    else await rm(temp, {force: true})
    release()
  })
}

function sinkOutput(
  schema: Schema,
  sink: NodeJS.WritableStream & {writableNeedDrain: boolean},
  target: string,
  writer: RecordBatchStreamWriter | RecordBatchFileWriter,
  finish: (ok: boolean) => Promise<void>,
): TableOutput {
  let failure: Error | undefined
  let started = false
  let failed!: () => void
  // Settles when the sink fails: a wait for 'drain' that began after the 'error' event would otherwise never end.
  const failing = new Promise<void>((resolve) => (failed = resolve))
  const drained = () => Promise.race([once(sink, 'drain').catch(() => {}), failing])
  let idle = true // waiting for the writer's next chunk: every chunk so far was handed to the sink
  let unwritten = 0 // chunks handed to the sink that it has not called back for
  const waiting: (() => void)[] = []
  const caughtUp = () => (idle && unwritten === 0) || failure !== undefined
  const wake = () => {
    if (caughtUp()) for (const resolve of waiting.splice(0)) resolve()
  }
  sink.on('error', (error: NodeJS.ErrnoException) => {
    failure =
      error.code === 'EPIPE'
        ? new UserError(`${target}: the reading side closed the pipe`, 141)
        : new UserError(`${target}: ${error.message}`)
    failed()
    wake()
    // Ends the pump's wait for the writer's next chunk: nothing more will be written.
    try {
      writer.abort()
    } catch {
      // already closed
    }
  })
  // apache-arrow's writer queues bytes without backpressure; this pump hands them to the sink at its pace.
  const pump = (async () => {
    const chunks = writer[Symbol.asyncIterator]()
    for (;;) {
      idle = true
      wake()
      const next = await chunks.next()
      idle = false
      if (next.done || failure) break
      unwritten++
      const accepted = sink.write(next.value, () => {
        unwritten--
        wake()
      })
      if (!accepted) await drained()
    }
  })()
  // Resolves once every byte so far is with the operating system, so that a caller may reuse the memory of the
  // batches it wrote. The pump is idle only if it finds the writer's queue empty, which it does in the microtasks
  // after the writer queued chunks: caughtUp() is looked at after setImmediate.
  const settle = async () => {
    for (;;) {
      await new Promise((resolve) => setImmediate(resolve))
      if (caughtUp()) break
      await new Promise<void>((resolve) => waiting.push(resolve))
    }
    if (failure) throw failure
  }
  return {
    target,
    async write(batch) {
      // After a closed pipe the writer's queue is gone too: report the pipe, not the queue.
      if (failure) throw failure
      started = true
      // The writer silently ends the stream on a batch whose schema differs (even in metadata).
      writer.write(batch.schema === schema ? batch : new RecordBatch(schema, batch.data))
      await settle()
    },
    async close() {
      // A table with no rows still carries its schema; one that failed before its first batch writes nothing.
      if (!failure) {
        if (!started) writer.reset(undefined, schema)
        writer.close()
      }
      await pump
      if (failure) {
        await finish(false)
        throw failure
      }
      await finish(true)
    },
    async abort() {
      if (!failure) writer.abort()
      await pump.catch(() => {})
      await finish(false)
    },
  }
}

/** Writes every batch, then completes the table; on any error nothing is left under the target name. */
export async function writeAll(output: TableOutput, batches: AsyncIterable<RecordBatch>): Promise<void> {
  try {
    for await (const batch of batches) await output.write(batch)
    await output.close()
  } catch (error) {
    await output.abort()
    throw error
  }
}
