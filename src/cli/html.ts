import {Flags} from './oclif.js'

/** The flags of every command that writes its results as a web page (src/lib/html). */
export const htmlFlags = {
  html: Flags.string({description: 'also write the results as one self-contained web page here, clips playable'}),
  'html-copy': Flags.boolean({
    description: 'copy the clips (transcoded when a browser cannot play them) into PAGE_files/ beside the --html page',
    dependsOn: ['html'],
  }),
}
