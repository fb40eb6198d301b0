/**
 * Module resolution hooks (node:module `register`) for tfjs-core's ES-module build, whose files import each other
 * without file extensions (written for bundlers): `./ops/sum` resolves to `./ops/sum.js`. Only specifiers made
 * inside that build are touched. See gradients.ts for why the build is loaded at all.
 */
type Resolve = (specifier: string, context: {parentURL?: string}) => Promise<{url: string; format?: string}>

const TFJS_DIST = '/@tensorflow/tfjs-core/dist/'

export async function resolve(
  specifier: string,
  context: {parentURL?: string},
  next: Resolve,
): Promise<{url: string; format?: string; shortCircuit?: boolean}> {
  const fromTfjs = context.parentURL?.includes(TFJS_DIST) && specifier.startsWith('.') && !specifier.endsWith('.js')
  if (!fromTfjs) return next(specifier, context)
  try {
    return {...(await next(`${specifier}.js`, context)), format: 'module', shortCircuit: true}
  } catch {
    return {...(await next(`${specifier}/index.js`, context)), format: 'module', shortCircuit: true}
  }
}
