/**
 * A run's snapshots (what users know as its checkpoints, in RUN/checkpoints/): everything a run needs to continue
 * exactly, not only its weights. RUN/checkpoints/step-NNNNNNNN/ holds the trainable weights in vipant's format
 * (model.safetensors + config.json, loadable by every command), the optimiser's moments (optimizer.safetensors),
 * the training state (state.json: step, epoch, time, seed and counters) and the resolved config (train.yaml).
 * Each is written into a temporary directory renamed into place, so a snapshot is whole or absent; the last
 * `keep` are kept.
 */
import {mkdir, readdir, readFile, rename, rm, writeFile} from 'node:fs/promises'
import path from 'node:path'
import type {LoadedModel} from '../checkpoint/load.js'
import {readSafetensors, writeSafetensors} from '../checkpoint/safetensors.js'
import type {StateDict} from '../checkpoint/tensor.js'
import {writeVipantCheckpoint} from '../checkpoint/vipant-format.js'
import {claimTemp} from '../util/atomic-write.js'
import {UserError} from '../util/errors.js'
import {configYaml, parseConfigYaml, resolveConfig, type TrainConfig} from './config.js'

export interface TrainState {
  /** Steps done: the next step to run. */
  step: number
  epoch: number
  /** Seconds spent training, over every resumed segment. */
  time: number
  seed: number
  /** Optimiser counters (Adam's step). */
  counters: Record<string, number>
}

export interface RunSnapshot {
  dir: string
  state: TrainState
  config: TrainConfig
  optimizer: StateDict
}

const STATE_FILE = 'state.json'
const OPTIMIZER_FILE = 'optimizer.safetensors'
const CONFIG_FILE = 'train.yaml'

export const snapshotsDir = (run: string) => path.join(run, 'checkpoints')
const stepDir = (step: number) => `step-${String(step).padStart(8, '0')}`

export async function saveSnapshot(
  run: string,
  model: LoadedModel,
  optimizer: StateDict,
  state: TrainState,
  config: TrainConfig,
  keep: number,
): Promise<string> {
  const root = snapshotsDir(run)
  const final = path.join(root, stepDir(state.step))
  await mkdir(root, {recursive: true})
  const {path: temp, release} = claimTemp(final)
  try {
    await rm(temp, {recursive: true, force: true})
    await mkdir(temp)
    await writeVipantCheckpoint(temp, model)
    await writeSafetensors(path.join(temp, OPTIMIZER_FILE), optimizer)
    await writeFile(path.join(temp, STATE_FILE), `${JSON.stringify(state, null, 2)}\n`)
    await writeFile(path.join(temp, CONFIG_FILE), configYaml(config))
    await rm(final, {recursive: true, force: true})
    await rename(temp, final)
  } catch (error) {
    await rm(temp, {recursive: true, force: true})
    throw error
  } finally {
    release()
  }
  const steps = await listSnapshots(run)
  for (const old of steps.slice(0, Math.max(0, steps.length - keep)))
    await rm(path.join(root, old), {recursive: true, force: true})
  return final
}

/** Snapshot directory names, oldest first. */
export async function listSnapshots(run: string): Promise<string[]> {
  const names = await readdir(snapshotsDir(run)).catch(() => [] as string[])
  return names.filter((n) => /^step-\d{8}$/.test(n)).sort()
}

/** Refuses to start a run in a directory that already holds one. */
export async function requireNewRun(run: string): Promise<void> {
  if (await latestSnapshot(run))
    throw new UserError(`${run} already holds a run: continue it with --resume, or choose another --out`)
}

/** The newest whole snapshot of a run, or undefined when it has none. */
export async function latestSnapshot(run: string): Promise<RunSnapshot | undefined> {
  const names = await listSnapshots(run)
  if (names.length === 0) return undefined
  const dir = path.join(snapshotsDir(run), names[names.length - 1])
  const read = (file: string) => readFile(path.join(dir, file), 'utf8')
  try {
    const state = JSON.parse(await read(STATE_FILE)) as TrainState
    const config = resolveConfig(parseConfigYaml(await read(CONFIG_FILE), path.join(dir, CONFIG_FILE)))
    const {tensors} = await readSafetensors(path.join(dir, OPTIMIZER_FILE))
    return {dir, state, config, optimizer: tensors}
  } catch (error) {
    if (error instanceof UserError) throw error
    throw new UserError(`${dir}: unreadable checkpoint (${(error as Error).message.split('\n')[0]})`)
  }
}
