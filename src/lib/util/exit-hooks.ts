/**
 * Clean-up that must happen however the process ends: a normal exit, process.exit, or SIGINT/SIGTERM once
 * exitOnSignals() is in force. Hooks run synchronously ('exit' allows nothing else), so they remove files with
 * rmSync and write to the terminal directly.
 */
const hooks = new Set<() => void>()
let installed = false
let signalsInstalled = false

/** Runs `hook` when the process exits unless the returned function is called first. */
export function onExit(hook: () => void): () => void {
  if (!installed) {
    installed = true
    process.on('exit', () => {
      for (const h of hooks) {
        try {
          h()
        } catch {
          // a hook that fails must not keep the others from running
        }
      }
      hooks.clear()
    })
  }
  hooks.add(hook)
  return () => hooks.delete(hook)
}

/**
 * SIGINT and SIGTERM end the process through process.exit (exit status 130 and 143, as a shell reports a process
 * killed by them), so that the exit hooks run; without a handler Node dies at once and runs none. A command that
 * handles the signals itself (training checkpoints first), before or after this call, keeps them: while it listens,
 * this handler yields to it.
 */
export function exitOnSignals(): void {
  if (signalsInstalled) return
  signalsInstalled = true
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    process.on(signal, () => {
      if (process.listenerCount(signal) === 1) process.exit(code)
    })
  }
}
