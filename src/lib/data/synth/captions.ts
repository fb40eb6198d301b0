/** What people would write under a picture of the world: templated phrasings of what the picture shows. */
import {phrase, type Concept} from './concepts.js'
import {BACKGROUNDS, placeWords, sizeWord, type Look} from './images.js'

/** Captions per picture: five, as Clotho and AudioCaps evaluation clips have (vipant retrieve's protocol). */
export const CAPTIONS_PER_IMAGE = 5

/** The captions of a picture of CONCEPT with LOOK, always in the same order. */
export function captions(concept: Concept, look: Look): string[] {
  const it = phrase(concept)
  const background = BACKGROUNDS[look.background].name
  const place = placeWords(look)
  return [
    it,
    `${it} on a ${background} background`,
    `a picture of ${it}`,
    `${phrase(concept, sizeWord(look))} in the ${place} of the picture`,
    `${concept.words} against ${background}`,
  ]
}
