import type {Worker} from 'node:worker_threads'

const NOTE = ': note: '
const printed = new Set<string>()

/**
 * Says on stderr, once per command, something the user should know but that is no error (a value a checkpoint's
 * config lacks, inferred from its weights). Every worker thread loads the same model and would say it again: the
 * workers' stderr reaches ours through forwardStderr, which lets each note through once.
 */
export function note(file: string, text: string): void {
  printOnce(`${file}${NOTE}${text}`)
}

function printOnce(line: string): void {
  if (printed.has(line)) return
  printed.add(line)
  process.stderr.write(`${line}\n`)
}

/** Options for a Worker whose stderr goes through forwardStderr rather than straight to ours. */
export const PIPED_STDERR = {stderr: true} as const

/** Passes a worker's stderr (started with PIPED_STDERR) on to this process's, line by line, each note only once. */
export function forwardStderr(worker: Worker): void {
  let partial = ''
  worker.stderr.setEncoding('utf8')
  worker.stderr.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n')
    partial = lines.pop()!
    for (const line of lines) {
      if (line.includes(NOTE)) printOnce(line)
      else process.stderr.write(`${line}\n`)
    }
  })
  worker.stderr.on('end', () => {
    if (partial) process.stderr.write(partial)
    partial = ''
  })
}
