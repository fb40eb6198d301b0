import {spawn} from 'node:child_process'
import {createInterface} from 'node:readline'

/** Debian's python3-torch; a python3 earlier on PATH may have no torch. */
export const PYTHON = process.env.VIPANT_BENCH_PYTHON ?? '/usr/bin/python3'

/**
 * A reference script kept running for a whole benchmark, driven over stdin with one JSON line back per
 * request, so that interpreter start-up and imports stay out of the timings.
 */
export function pythonProcess(script: string, env: NodeJS.ProcessEnv = process.env) {
  const child = spawn(PYTHON, [script], {stdio: ['pipe', 'pipe', 'pipe'], env})
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  // A script that dies early (no torch) closes its stdin; the exit below carries the reason, not this EPIPE.
  child.stdin.on('error', () => {})
  const exited = new Promise<never>((_, reject) => {
    child.on('error', reject)
    child.on('close', (code) => reject(new Error(`exited with ${code}: ${stderr.trim().split('\n').pop() ?? ''}`)))
  })
  const lines = createInterface({input: child.stdout})[Symbol.asyncIterator]()
  return {
    send: (text: string) => child.stdin.write(text),
    async reply(): Promise<Record<string, unknown>> {
      const line = await Promise.race([lines.next(), exited])
      if (line.done) return exited
      return JSON.parse(line.value) as Record<string, unknown>
    },
    close: () => {
      exited.catch(() => {})
      child.stdin.end()
    },
  }
}

/** A PyTorch reference script (bench/*_torch.py, started by `start_torch`) and the contender name its first line gives. */
export async function torchProcess(
  script: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{python: ReturnType<typeof pythonProcess>; name: string}> {
  const python = pythonProcess(script, env)
  const hello = await python.reply()
  return {python, name: `PyTorch ${hello.torch} (BLAS ${hello.blas}: ${hello.blas_library}, ${hello.threads} threads)`}
}
