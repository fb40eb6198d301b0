import {statSync} from 'node:fs'
import {Flags} from '../../cli/oclif.js'
import {arg} from '../../cli/args.js'
import {VipantCommand} from '../../cli/base-command.js'
import {fetchModel, listModels, modelsDir, ZOO, zooEntry, type ModelListing} from '../../lib/checkpoint/zoo.js'
import {UserError} from '../../lib/util/errors.js'

const MIB = 1 << 20

function renderList(models: ModelListing[]): string {
  const size = (m: ModelListing) => (m.size === null ? '?' : `${(m.size / MIB).toFixed(0)} MiB`)
  const width = Math.max(...models.map((m) => m.name.length))
  const rows = models.map(
    (m) => `${m.name.padEnd(width)}  ${size(m).padStart(8)}  ${m.cached ? 'cached ' : 'remote '}  ${m.purpose}`,
  )
  return `${rows.join('\n')}\n(cache: ${modelsDir()}; sizes of files not downloaded yet are shown once known)\n`
}

export default class FetchModel extends VipantCommand {
  static override summary = 'Download a released checkpoint into the model cache'
  static override description = `Downloads VIP-ANT's released audio towers and OpenAI's CLIP ViT-B/32 into $VIPANT_HOME/models (default ~/.cache/vipant/models): resumed after an interruption, retried with backoff, checked against the published sha256 (CLIP) or the size recorded at the first download, and renamed into place only when complete. Prints the file's path on stdout.

Commands that take --model NAME download on first use unless --offline (or VIPANT_OFFLINE=1). Sources can be redirected: VIPANT_MIRROR=https://mirror/base fetches https://host/path as https://mirror/base/host/path; HTTPS_PROXY, HTTP_PROXY and NO_PROXY are honoured; VIPANT_NET_TIMEOUT (seconds) and VIPANT_NET_RETRIES tune patience (or "mirror", "timeout", "retries" in $VIPANT_HOME/config.json).

Models:
${ZOO.map((e) => `  ${e.name.padEnd(20)} ${e.purpose}`).join('\n')}`

  static override examples = [
    '<%= config.bin %> fetch model --list',
    '<%= config.bin %> fetch model vipant-esc50',
    '<%= config.bin %> fetch model clip-vit-b32 --json',
  ]

  static override args = {name: arg('model name (see --list)')}

  static override flags = {
    list: Flags.boolean({description: 'list the known models, their sizes and whether each is cached'}),
    json: Flags.boolean({description: 'print JSON'}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(FetchModel)
    if (flags.list || args.name === undefined) {
      if (!flags.list) throw new UserError(`name a model (${ZOO.map((e) => e.name).join(', ')}) or use --list`)
      const models = listModels()
      process.stdout.write(flags.json ? `${JSON.stringify(models, null, 2)}\n` : renderList(models))
      return
    }
    const entry = zooEntry(args.name)
    if (!entry) throw new UserError(`${args.name}: not a known model (${ZOO.map((e) => e.name).join(', ')})`)
    const was = listModels().find((m) => m.name === entry.name)!.cached
    const file = await fetchModel(entry)
    const size = statSync(file).size
    const verified = entry.sha256 ? `sha256 ${entry.sha256}` : 'size recorded at first download'
    process.stderr.write(
      `fetch model ${entry.name}: ${was ? 'already cached' : 'downloaded'}, ${size} bytes (${verified})\n`,
    )
    process.stdout.write(
      flags.json
        ? `${JSON.stringify({name: entry.name, file, size, sha256: entry.sha256 ?? null, downloaded: !was}, null, 2)}\n`
        : `${file}\n`,
    )
  }
}
