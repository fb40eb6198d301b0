/**
 * In-training evaluation on ONNX Runtime: at each evaluation the trainable towers' graphs are built in memory from the
 * current weights, run on every core, then released. A ViT-B/32-sized audio tower on 16 clips of 1000 frames, 2
 * cores: 14 s in all (~3 s of it building graph and session), 54 s on tfjs's one wasm thread (npm run bench -- train). Frozen towers stay on TensorFlow.js: their outputs are stored, and the text tower of audio-text runs only
 * over the class prompts. The gradient steps never leave TensorFlow.js.
 */
import type {TextTransformer} from '../model/clip-text.js'
import type {VisionTransformer} from '../model/clip-vision.js'
import {audioEncoderGraph} from '../onnx/audio-encoder.js'
import {textTransformerGraph} from '../onnx/clip-text.js'
import {visionTransformerGraph} from '../onnx/clip-vision.js'
import type {Graph} from '../onnx/graph.js'
import {createSession, describeRuntime, loadRuntime, type Session} from '../onnx/runtime.js'
import {runTower, towerInput} from '../onnx/tower-input.js'
import {tfjsEngine, type EvalEmbed, type EvalEngine} from './evaluate.js'
import {embedAll, type PairModel} from './pair-model.js'
import type {TowerName} from './pair-table.js'

/** Evaluation on ONNX Runtime's CPU provider, or undefined where onnxruntime-node is not installed. */
export async function onnxEngine(model: PairModel): Promise<EvalEngine | undefined> {
  const ort = await loadRuntime()
  if (!ort) return undefined
  const frozen = tfjsEngine(model)
  return {
    name: await describeRuntime('cpu'),
    async open() {
      const {embed: embedFrozen} = await frozen.open()
      const {audio, clip} = model.checkpoint({}) // the weights as they are now, in vipant's layout
      const sessions = new Map<string, Promise<Session>>()
      const session = (key: string, graph: () => Graph) => {
        if (!sessions.has(key)) sessions.set(key, createSession(graph().serialise(), 'cpu'))
        return sessions.get(key)!
      }
      const sizes = {
        contextLength: (model.trainable.text as TextTransformer | undefined)?.contextLength,
        audioConfig: audio?.config,
        imageResolution: (model.trainable.image as VisionTransformer | undefined)?.inputResolution,
      }
      /** (n, E) end to end for one chunk of a trainable tower's items. */
      const run = async (tower: TowerName, items: readonly (Float32Array | string)[]): Promise<Float32Array> => {
        const {input, grid} = towerInput(ort, tower, items, sizes)
        const graph = () =>
          tower === 'audio'
            ? audioEncoderGraph(audio!.weights, audio!.config, grid!)
            : tower === 'text'
              ? textTransformerGraph(clip!)
              : visionTransformerGraph(clip!)
        return runTower(await session(`${tower} ${grid ?? ''}`, graph), input)
      }
      const embed: EvalEmbed = async (tower, items) =>
        model.trainable[tower] ? embedAll((chunk) => run(tower, chunk), items) : embedFrozen(tower, items)
      const close = async () => {
        for (const s of sessions.values()) await (await s.catch(() => undefined))?.release()
      }
      return {embed, close}
    },
  }
}
