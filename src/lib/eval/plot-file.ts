import {writeFile} from 'node:fs/promises'
import path from 'node:path'
import {execa} from 'execa'
import {atomicWrite} from '../util/atomic-write.js'
import {UserError} from '../util/errors.js'
import {checkOutputPath} from '../util/output-path.js'

/**
 * Writing a plot as .svg, or as .png through an SVG rasteriser already on the machine (ImageMagick's
 * `convert` or librsvg's `rsvg-convert`): vipant draws SVG itself and does not carry a rasteriser.
 */
type Rasteriser = {binary: string; args: (out: string) => string[]}

const RASTERISERS: Rasteriser[] = [
  {binary: 'rsvg-convert', args: (out) => ['--format', 'png', '--output', out]},
  {binary: 'convert', args: (out) => ['-density', '144', 'svg:-', `png:${out}`]},
]

/** Checks FILE's directory, its extension (and, for .png, that a rasteriser is present) before any work is done; `flag` names the option in the message. */
export async function checkPlotPath(file: string, flag = '--plot'): Promise<void> {
  checkOutputPath(file, flag)
  const ext = path.extname(file).toLowerCase()
  if (ext === '.svg') return
  if (ext !== '.png') throw new UserError(`${file}: ${flag} writes .svg or .png`)
  if (!(await rasteriser())) throw noRasteriser(file)
}

/** Writes the SVG to FILE, rasterised when FILE ends in .png, through a temporary name. */
export async function writePlot(file: string, svg: string): Promise<void> {
  if (path.extname(file).toLowerCase() === '.svg') return atomicWrite(file, (temp) => writeFile(temp, svg))
  const tool = await rasteriser()
  if (!tool) throw noRasteriser(file)
  await atomicWrite(file, async (temp) => {
    const result = await execa(tool.binary, tool.args(temp), {input: svg, reject: false})
    if (result.exitCode !== 0) {
      throw new UserError(
        `${file}: ${tool.binary} failed: ${String(result.stderr).split('\n')[0] || `exit ${result.exitCode}`}`,
      )
    }
  })
}

const noRasteriser = (file: string) =>
  new UserError(`${file}: writing .png needs rsvg-convert or ImageMagick's convert on PATH; install one, or use .svg`)

async function rasteriser(): Promise<Rasteriser | undefined> {
  for (const tool of RASTERISERS) {
    const probe = await execa(tool.binary, ['--version'], {reject: false, stdin: 'ignore'})
    if (probe.exitCode === 0) return tool
  }
  return undefined
}
