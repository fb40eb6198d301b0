/**
 * The Arrow library as every vipant module imports it. apache-arrow ships as some 160 ES modules, which Node 20 takes
 * 150 ms to load, a third of a short command's start-up; `npm run build` bundles this file and them into one file
 * (esbuild), loaded in 25 ms. Compiled without that step (a bare tsc) it is the package itself, only slower to load.
 * Importing Arrow from here alone also keeps one copy of its classes, whose instanceof checks a second copy fails.
 */
export * from 'apache-arrow'
// Footers and record batch headers, for reading rows of a file at random (row-reader.ts).
export {Footer, FileBlock} from 'apache-arrow/ipc/metadata/file'
