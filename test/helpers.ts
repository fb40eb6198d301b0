import {existsSync, readdirSync, readFileSync} from 'node:fs'
import {fileURLToPath} from 'node:url'
import path from 'node:path'

/** Repository root: tests run compiled from dist/test. */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
export const fixture = (...parts: string[]) => path.join(repoRoot, 'test', 'fixtures', ...parts)
/** Real third-party data beside the checkout (../shared/data); tests that need it skip without it. */
export const sharedData = (...parts: string[]) => path.join(repoRoot, '..', 'shared', 'data', ...parts)
export const hasSharedData = existsSync(sharedData('SOURCES.md'))
export const skipWithoutShared = hasSharedData ? false : 'needs ../shared/data'

/** The first `count` ESC-50 clips of ../shared/data, by name. */
export const esc50Clips = (count: number) =>
  readdirSync(sharedData('esc50', 'audio'))
    .sort()
    .slice(0, count)
    .map((f) => sharedData('esc50', 'audio', f))

/** Little-endian float32 fixture written by test/reference/*.py. */
export function readF32(file: string): Float32Array {
  const buf = readFileSync(file)
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength))
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`)
  let m = 0
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]))
  return m
}
