import {Flags} from './oclif.js'

// Flags that several commands declare with the same meaning and help text; each command keeps its own key and order.

/** -o for the commands whose output is a table. */
export const tableOutputFlag = Flags.string({
  char: 'o',
  description: 'write the table here (.arrow: IPC file; else IPC stream); default stdout',
})

// zeroshot and retrieve: the evaluation commands that embed text (and audio) themselves.

export const textClipFlag = Flags.string({
  description: 'CLIP supplying the text tower when --model lacks it',
  default: 'clip-vit-b32',
})

export const reportJsonFlag = Flags.boolean({
  description: 'print the report as JSON (the default when stdout is not a terminal)',
})

export const clipBatchSizeFlag = Flags.integer({description: 'clips per forward pass', default: 8, min: 1})

export const towerWorkersFlag = Flags.integer({
  description: 'worker threads for the towers (tfjs; default: one per core on wasm/cpu)',
  min: 1,
})
