/**
 * Registers tfjs-core's gradient functions, which training needs and inference does not. The package's CommonJS
 * build (what Node loads) leaves them out: the `@tensorflow/tfjs` umbrella package registers them from its own
 * bundled copy (~100 MB with WebGL, layers and converter). They ship in tfjs-core's ES-module build, whose imports
 * lack file extensions; tfjs-esm-hooks.ts resolves those. The gradients register in tfjs's global registry and
 * run on the one global engine, so they serve the CommonJS build's tensors.
 */
import {register} from 'node:module'

let registered: Promise<void> | undefined

export function registerGradients(): Promise<void> {
  registered ??= (async () => {
    register('./tfjs-esm-hooks.js', import.meta.url)
    await import('@tensorflow/tfjs-core/dist/register_all_gradients.js' as string)
  })()
  return registered
}
