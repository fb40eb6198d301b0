import {Args, loadHelpClass} from '../cli/oclif.js'
import {VipantCommand} from '../cli/base-command.js'
import {unknownCommand} from '../cli/unknown-command.js'

export default class Help extends VipantCommand {
  static override summary = 'Help for vipant or one of its commands (the same as --help or -h)'
  static override examples = [
    '<%= config.bin %> help',
    '<%= config.bin %> help mel',
    '<%= config.bin %> help fetch model',
  ]
  static override strict = false
  static override args = {
    command: Args.string({description: 'the command, e.g. "mel" or "fetch model"', ignoreStdin: true}),
  }

  async run(): Promise<void> {
    const {argv} = await this.parse(Help)
    const words = argv as string[]
    const id = words.join(':')
    if (words.length > 0 && !this.config.findCommand(id) && !this.config.findTopic(id)) {
      process.stderr.write(`${unknownCommand(this.config, id)}\n`)
      this.exit(2)
    }
    const HelpClass = await loadHelpClass(this.config)
    await new HelpClass(this.config, this.config.pjson.oclif.helpOptions).showHelp(words)
  }
}
