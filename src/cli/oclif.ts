/**
 * oclif as every vipant module imports it. @oclif/core and its dependencies are some 150 CommonJS files, which Node 20
 * takes 85 ms to load at every start of every command; `npm run build` bundles this file and them into one
 * (src/cli/bundles.ts), loaded in 40 ms. Compiled without that step (a bare tsc) it is the package itself, only
 * slower to load. The names are listed, not `export *`: a bundle cannot see a CommonJS module's exports ahead of time.
 */
export {Args, Command, CommandHelp, Config, execute, Flags, Help, loadHelpClass, Plugin} from '@oclif/core'
export type {Hook, Interfaces} from '@oclif/core'
