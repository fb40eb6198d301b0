import {readFileSync} from 'node:fs'
import {UserError} from '../util/errors.js'

/** AudioSet ontology.json as MID -> display name. */
export type Ontology = ReadonlyMap<string, string>

export function loadOntology(file: string): Ontology {
  let entries: unknown
  try {
    entries = JSON.parse(readFileSync(file, 'utf8'))
  } catch (error) {
    throw new UserError(`${file}: not valid JSON (${(error as Error).message})`)
  }
  if (!Array.isArray(entries)) throw new UserError(`${file}: expected a JSON array of ontology entries`)
  const names = new Map<string, string>()
  for (const entry of entries) {
    if (typeof entry?.id === 'string' && typeof entry?.name === 'string') names.set(entry.id, entry.name)
  }
  return names
}

/** Display names of MIDs; a MID the ontology lacks stands for itself so the lists stay aligned. */
export function labelNames(mids: readonly string[], ontology: Ontology): string[] {
  return mids.map((mid) => ontology.get(mid) ?? mid)
}
