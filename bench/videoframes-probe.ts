/**
 * `node dist/bench/videoframes-probe.js VIDEO COUNT`: cuts the 4 frames of COUNT clips of VIDEO as pretrain does for
 * an index of bare videos (ClipFrames, one worker thread), and nothing else; bench/videoframes.ts times it whole,
 * ffmpeg's child processes included.
 */
import {ClipFrames} from '../src/lib/train/frame-source.js'
import type {Clip} from '../src/lib/train/pair-table.js'

const [video, count] = process.argv.slice(2)
const clips: Clip[] = Array.from({length: Number(count)}, (_, i) => ({id: `clip${i}`, videoPath: video}))
const frames = new ClipFrames(4, (line) => console.error(line), 1)
try {
  for await (const cut of frames.each(clips)) if (cut.length !== 4) throw new Error(`${video}: ${cut.length} frames`)
} finally {
  await frames.close()
}
