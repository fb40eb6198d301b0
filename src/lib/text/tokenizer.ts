/**
 * CLIP's byte-level BPE tokenizer: openai/CLIP `clip/simple_tokenizer.py` (SimpleTokenizer) and `clip.tokenize`
 * (docs/method.md §5.6), with the same names so the two read side by side.
 *
 * Differences from the reference, none of which changes the ids for ordinary captions:
 * - CLIP cleans text with ftfy.fix_text. `fixText` applies the table-driven steps of ftfy 6.3 in ftfy's order and
 *   leaves out its heuristic mojibake repair (text such as "cafÃ©" stays as it is) and its own HTML unescaping
 *   (the double html.unescape of basic_clean still runs). The results differ only for mojibake, for entities
 *   nested three or more deep ("&amp;amp;amp;") and for escaped characters that a later ftfy step rewrites
 *   ("&lsquo;" stays a curly quote).
 * - `htmlUnescape` follows Python's html.unescape exactly for numeric references; named references use the
 *   HTML 4 names plus &apos; (HTML5 values) rather than the whole HTML5 table.
 * - Python's regex module and Node's ICU may be on different Unicode versions: characters assigned in the newest
 *   versions can lower-case or split differently.
 *
 * Speed: loading the vocabulary takes about 0.2 s, once. BPE runs once per distinct word (cached, as in CLIP), so
 * tokenizing the first 10,000 AudioCaps training captions takes about 0.3 s the first time and 0.15 s after that
 * (Node 20, one core of a shared 2-core machine); cleaning and the regex split are most of the rest.
 */
import {readFileSync} from 'node:fs'
import {gunzipSync} from 'node:zlib'
import {UserError} from '../util/errors.js'

/** Resolved from the compiled file, dist/src/lib/text/, so it works from the repository and the installed package. */
const DEFAULT_BPE_PATH = new URL('../../../../assets/bpe_simple_vocab_16e6.txt.gz', import.meta.url)

export const SOT_TOKEN = 49406
export const EOT_TOKEN = 49407

/** What Python's regex module calls `\s` (JavaScript's `\s` also has U+FEFF and lacks U+0085). */
const WS = '\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000'
/** Python's str.strip() removes str.isspace() characters: `\s` plus the separators U+001C..U+001F. */
const STRIP = new RegExp(`^[${WS}\\x1c-\\x1f]+|[${WS}\\x1c-\\x1f]+$`, 'g')
const WS_RUN = new RegExp(`[${WS}]+`, 'g')

/**
 * CLIP's `pat`. CLIP compiles it with re.IGNORECASE on text that is already lower-cased; the flag still matters
 * twice, spelled out here instead of using JavaScript's `i` flag (whose case folding differs): "ſ" (long s)
 * folds to "s", so "'ſ" and "<|ſtartoftext|>" match; and U+0345, which folds to the letter "ι", matches neither
 * the letter class nor the negated class, so CLIP silently drops it.
 */
const PAT = new RegExp(
  `<\\|[sſ]tartoftext\\|>|<\\|endoftext\\|>|'[sſ]|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^${WS}\\p{L}\\p{N}\\u0345]+`,
  'gu',
)

/**
 * GPT-2's reversible map from bytes to printable characters, so BPE never sees whitespace or control bytes. In
 * Python's dict order (printable bytes first), which is the order of the first 256 vocabulary entries.
 */
export function bytesToUnicode(): Map<number, string> {
  const bs: number[] = []
  const range = (a: string, b: string) => {
    for (let c = a.charCodeAt(0); c <= b.charCodeAt(0); c++) bs.push(c)
  }
  range('!', '~')
  range('¡', '¬')
  range('®', 'ÿ')
  const cs = [...bs]
  let n = 0
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b)
      cs.push(256 + n)
      n++
    }
  }
  return new Map(bs.map((b, i) => [b, String.fromCharCode(cs[i])]))
}

// --- ftfy.fix_text, the table-driven steps (ftfy 6.3.1 fixes.py and chardata.py) ---

/** Windows-1252 for 0x80..0x9F; its five unassigned bytes stay C1 controls ("sloppy" decoding, as ftfy does). */
const WINDOWS_1252_C1 = '€\x81‚ƒ„…†‡ˆ‰Š‹Œ\x8dŽ\x8f\x90‘’“”•–—˜™š›œ\x9džŸ'
const LIGATURES: Record<string, string> = {
  Ĳ: 'IJ',
  ĳ: 'ij',
  ŉ: 'ʼn',
  Ǳ: 'DZ',
  ǲ: 'Dz',
  ǳ: 'dz',
  Ǆ: 'DŽ',
  ǅ: 'Dž',
  ǆ: 'dž',
  Ǉ: 'LJ',
  ǈ: 'Lj',
  ǉ: 'lj',
  Ǌ: 'NJ',
  ǋ: 'Nj',
  ǌ: 'nj',
  ﬀ: 'ff',
  ﬁ: 'fi',
  ﬂ: 'fl',
  ﬃ: 'ffi',
  ﬄ: 'ffl',
  ﬅ: 'ſt',
  ﬆ: 'st',
}
const LIGATURE_RE = new RegExp(`[${Object.keys(LIGATURES).join('')}]`, 'g')
/** Full- and half-width forms become their NFKC equivalents; U+3000 IDEOGRAPHIC SPACE becomes a space. */
const WIDTH_RE = /[\u3000\uff01-\uffef]/g
// eslint-disable-next-line no-control-regex -- ftfy's escape sequences: matching control characters is the point
const ANSI_RE = /\x1b\[((?:\p{Nd}|;)*)([a-zA-Z])/gu
// eslint-disable-next-line no-control-regex -- the control characters ftfy removes
const CONTROL_CHARS_RE = /[\x00-\x08\x0b\x0e-\x1f\x7f\u206a-\u206f\ufeff\ufff9-\ufffc]/g
const PLAIN_ASCII = /^[\t\n\x20-\x7e]*$/

/**
 * The subset of ftfy.fix_text described at the top of the file. ftfy repeats its steps until nothing changes; one
 * pass suffices here because no step produces what an earlier one would rewrite.
 */
export function fixText(text: string): string {
  // Most captions are plain ASCII, which no step changes.
  if (PLAIN_ASCII.test(text)) return text
  return text
    .replace(/[\x80-\x9f]/g, (c) => WINDOWS_1252_C1[c.charCodeAt(0) - 0x80])
    .replace(LIGATURE_RE, (c) => LIGATURES[c])
    .replace(WIDTH_RE, (c) => (c === '\u3000' ? ' ' : c.normalize('NFKC')))
    .replace(/[\u201c-\u201f]/g, '"')
    .replace(/[\u02bc\u2018-\u201b]/g, "'")
    .replace(/\r\n|[\r\u2028\u2029\x85]/g, '\n')
    .replace(ANSI_RE, '')
    .replace(CONTROL_CHARS_RE, '')
    .normalize('NFC')
}

// --- Python's html.unescape (Lib/html/__init__.py) ---

/** HTML 4 entity names (Python's html.entities.name2codepoint), &apos; and the upper-case legacy names, with their HTML5 values. */
const ENTITY_TABLE = `Aacute:c1 aacute:e1 Acirc:c2 acirc:e2 acute:b4 AElig:c6 aelig:e6 Agrave:c0 agrave:e0 alefsym:2135 Alpha:391
alpha:3b1 AMP:26 amp:26 and:2227 ang:2220 apos:27 Aring:c5 aring:e5 asymp:2248 Atilde:c3 atilde:e3 Auml:c4
auml:e4 bdquo:201e Beta:392 beta:3b2 brvbar:a6 bull:2022 cap:2229 Ccedil:c7 ccedil:e7 cedil:b8 cent:a2 Chi:3a7
chi:3c7 circ:2c6 clubs:2663 cong:2245 COPY:a9 copy:a9 crarr:21b5 cup:222a curren:a4 Dagger:2021 dagger:2020
dArr:21d3 darr:2193 deg:b0 Delta:394 delta:3b4 diams:2666 divide:f7 Eacute:c9 eacute:e9 Ecirc:ca ecirc:ea
Egrave:c8 egrave:e8 empty:2205 emsp:2003 ensp:2002 Epsilon:395 epsilon:3b5 equiv:2261 Eta:397 eta:3b7 ETH:d0
eth:f0 Euml:cb euml:eb euro:20ac exist:2203 fnof:192 forall:2200 frac12:bd frac14:bc frac34:be frasl:2044
Gamma:393 gamma:3b3 ge:2265 GT:3e gt:3e hArr:21d4 harr:2194 hearts:2665 hellip:2026 Iacute:cd iacute:ed
Icirc:ce icirc:ee iexcl:a1 Igrave:cc igrave:ec image:2111 infin:221e int:222b Iota:399 iota:3b9 iquest:bf
isin:2208 Iuml:cf iuml:ef Kappa:39a kappa:3ba Lambda:39b lambda:3bb lang:27e8 laquo:ab lArr:21d0 larr:2190
lceil:2308 ldquo:201c le:2264 lfloor:230a lowast:2217 loz:25ca lrm:200e lsaquo:2039 lsquo:2018 LT:3c lt:3c
macr:af mdash:2014 micro:b5 middot:b7 minus:2212 Mu:39c mu:3bc nabla:2207 nbsp:a0 ndash:2013 ne:2260 ni:220b
not:ac notin:2209 nsub:2284 Ntilde:d1 ntilde:f1 Nu:39d nu:3bd Oacute:d3 oacute:f3 Ocirc:d4 ocirc:f4 OElig:152
oelig:153 Ograve:d2 ograve:f2 oline:203e Omega:3a9 omega:3c9 Omicron:39f omicron:3bf oplus:2295 or:2228
ordf:aa ordm:ba Oslash:d8 oslash:f8 Otilde:d5 otilde:f5 otimes:2297 Ouml:d6 ouml:f6 para:b6 part:2202
permil:2030 perp:22a5 Phi:3a6 phi:3c6 Pi:3a0 pi:3c0 piv:3d6 plusmn:b1 pound:a3 Prime:2033 prime:2032 prod:220f
prop:221d Psi:3a8 psi:3c8 QUOT:22 quot:22 radic:221a rang:27e9 raquo:bb rArr:21d2 rarr:2192 rceil:2309
rdquo:201d real:211c REG:ae reg:ae rfloor:230b Rho:3a1 rho:3c1 rlm:200f rsaquo:203a rsquo:2019 sbquo:201a
Scaron:160 scaron:161 sdot:22c5 sect:a7 shy:ad Sigma:3a3 sigma:3c3 sigmaf:3c2 sim:223c spades:2660 sub:2282
sube:2286 sum:2211 sup:2283 sup1:b9 sup2:b2 sup3:b3 supe:2287 szlig:df Tau:3a4 tau:3c4 there4:2234 Theta:398
theta:3b8 thetasym:3d1 thinsp:2009 THORN:de thorn:fe tilde:2dc times:d7 trade:2122 Uacute:da uacute:fa
uArr:21d1 uarr:2191 Ucirc:db ucirc:fb Ugrave:d9 ugrave:f9 uml:a8 upsih:3d2 Upsilon:3a5 upsilon:3c5 Uuml:dc
uuml:fc weierp:2118 Xi:39e xi:3be Yacute:dd yacute:fd yen:a5 Yuml:178 yuml:ff zeta:3b6 Zeta:396 zwj:200d
zwnj:200c`
/** The names HTML5 also accepts without a semicolon. */
const LEGACY_NAMES = `Aacute aacute Acirc acirc acute AElig aelig Agrave agrave AMP amp Aring aring Atilde atilde Auml auml brvbar
Ccedil ccedil cedil cent COPY copy curren deg divide Eacute eacute Ecirc ecirc Egrave egrave ETH eth Euml euml
frac12 frac14 frac34 GT gt Iacute iacute Icirc icirc iexcl Igrave igrave iquest Iuml iuml laquo LT lt macr
micro middot nbsp not Ntilde ntilde Oacute oacute Ocirc ocirc Ograve ograve ordf ordm Oslash oslash Otilde
otilde Ouml ouml para plusmn pound QUOT quot raquo REG reg sect shy sup1 sup2 sup3 szlig THORN thorn times
Uacute uacute Ucirc ucirc Ugrave ugrave uml Uuml uuml Yacute yacute yen yuml`

let html5: Map<string, string> | undefined
/** Python's `html.entities.html5` restricted to the names above: "name;" always, "name" for legacy names. */
function entities(): Map<string, string> {
  if (!html5) {
    html5 = new Map()
    for (const entry of ENTITY_TABLE.split(/\s+/)) {
      const [name, hex] = entry.split(':')
      html5.set(name + ';', String.fromCodePoint(parseInt(hex, 16)))
    }
    for (const name of LEGACY_NAMES.split(/\s+/)) html5.set(name, html5.get(name + ';')!)
  }
  return html5
}

const CHARREF = /&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)/gu

/** Code points Python's html.unescape drops: controls, noncharacters. */
function isInvalidCodepoint(num: number): boolean {
  return (
    (num >= 0x1 && num <= 0x8) ||
    num === 0xb ||
    (num >= 0xe && num <= 0x1f) ||
    (num >= 0x7f && num <= 0x9f) ||
    (num >= 0xfdd0 && num <= 0xfdef) ||
    (num & 0xfffe) === 0xfffe
  )
}

function replaceCharref(s: string): string {
  if (s[0] === '#') {
    const num = s[1] === 'x' || s[1] === 'X' ? parseInt(s.slice(2), 16) : parseInt(s.slice(1), 10)
    // Python's _invalid_charrefs: NUL, CR and the Windows-1252 reading of 0x80..0x9F.
    if (num === 0) return '\ufffd'
    if (num === 0xd) return '\r'
    if (num >= 0x80 && num <= 0x9f) return WINDOWS_1252_C1[num - 0x80]
    if ((num >= 0xd800 && num <= 0xdfff) || num > 0x10ffff) return '\ufffd'
    if (isInvalidCodepoint(num)) return ''
    return String.fromCodePoint(num)
  }
  const table = entities()
  const whole = table.get(s)
  if (whole !== undefined) return whole
  // The longest name that prefixes the reference, as the HTML5 standard does for legacy names.
  for (let x = s.length - 1; x > 1; x--) {
    const prefix = table.get(s.slice(0, x))
    if (prefix !== undefined) return prefix + s.slice(x)
  }
  return '&' + s
}

export function htmlUnescape(s: string): string {
  if (!s.includes('&')) return s
  return s.replace(CHARREF, (_, ref: string) => replaceCharref(ref))
}

// --- clip/simple_tokenizer.py ---

/** Python's str.strip(). */
function strip(text: string): string {
  return text.replace(STRIP, '')
}

export function basicClean(text: string): string {
  text = fixText(text)
  text = htmlUnescape(htmlUnescape(text))
  return strip(text)
}

export function whitespaceClean(text: string): string {
  text = text.replace(WS_RUN, ' ')
  return strip(text)
}

/** Adjacent symbol pairs of a word, as "first second" keys of `bpeRanks` (symbols never contain a space). */
function getPairs(word: string[]): Set<string> {
  const pairs = new Set<string>()
  for (let i = 1; i < word.length; i++) pairs.add(word[i - 1] + ' ' + word[i])
  return pairs
}

export class SimpleTokenizer {
  readonly byteEncoder: Map<number, string>
  readonly byteDecoder: Map<string, number>
  readonly encoder: Map<string, number>
  readonly decoder: string[]
  readonly bpeRanks: Map<string, number>
  private readonly cache: Map<string, string>
  /** Ids of each word as the regex split it: skips byte mapping and lookups, most of encode's time otherwise. */
  private readonly wordIds = new Map<string, number[]>()

  constructor(bpePath: string | URL = DEFAULT_BPE_PATH) {
    this.byteEncoder = bytesToUnicode()
    this.byteDecoder = new Map([...this.byteEncoder].map(([b, c]) => [c, b]))
    // Line 0 is a version header; the vocabulary keeps the first 49152 - 256 - 2 merges.
    const merges = gunzipSync(readFileSync(bpePath))
      .toString('utf8')
      .split('\n')
      .slice(1, 49152 - 256 - 2 + 1)
    const vocab = [...this.byteEncoder.values()]
    for (const v of this.byteEncoder.values()) vocab.push(v + '</w>')
    for (const merge of merges) vocab.push(merge.split(' ').join(''))
    vocab.push('<|startoftext|>', '<|endoftext|>')
    this.encoder = new Map(vocab.map((v, i) => [v, i]))
    this.decoder = vocab
    this.bpeRanks = new Map(merges.map((merge, i) => [merge, i]))
    this.cache = new Map([
      ['<|startoftext|>', '<|startoftext|>'],
      ['<|endoftext|>', '<|endoftext|>'],
    ])
  }

  /** Merges the byte symbols of one word by rank; the result is space-separated vocabulary entries. */
  bpe(token: string): string {
    const cached = this.cache.get(token)
    if (cached !== undefined) return cached
    let word = [...token.slice(0, -1)]
    word.push(token.slice(-1) + '</w>')
    let pairs = getPairs(word)

    if (pairs.size === 0) return token + '</w>'

    for (;;) {
      let bigram = ''
      let best = Infinity
      for (const pair of pairs) {
        const rank = this.bpeRanks.get(pair)
        if (rank !== undefined && rank < best) {
          best = rank
          bigram = pair
        }
      }
      if (best === Infinity) break
      const [first, second] = bigram.split(' ')
      const newWord: string[] = []
      let i = 0
      while (i < word.length) {
        const j = word.indexOf(first, i)
        if (j < 0) {
          newWord.push(...word.slice(i))
          break
        }
        newWord.push(...word.slice(i, j))
        i = j

        if (word[i] === first && i < word.length - 1 && word[i + 1] === second) {
          newWord.push(first + second)
          i += 2
        } else {
          newWord.push(word[i])
          i += 1
        }
      }
      word = newWord
      if (word.length === 1) break
      pairs = getPairs(word)
    }
    const result = word.join(' ')
    this.cache.set(token, result)
    return result
  }

  encode(text: string): number[] {
    const bpeTokens: number[] = []
    text = whitespaceClean(basicClean(text)).toLowerCase()
    for (const [match] of text.matchAll(PAT)) {
      let ids = this.wordIds.get(match)
      if (!ids) {
        let token = ''
        for (const b of Buffer.from(match, 'utf8')) token += this.byteEncoder.get(b)!
        ids = this.bpe(token)
          .split(' ')
          .map((bpeToken) => this.encoder.get(bpeToken)!)
        this.wordIds.set(match, ids)
      }
      for (const id of ids) bpeTokens.push(id)
    }
    return bpeTokens
  }

  /** Broken UTF-8 (a multi-byte character cut between tokens) decodes to U+FFFD, like Python's errors="replace". */
  decode(tokens: ArrayLike<number>): string {
    const text = Array.from(tokens, (token) => {
      const symbol = this.decoder[token]
      if (symbol === undefined) throw new RangeError(`token id ${token} is outside the vocabulary`)
      return symbol
    }).join('')
    const bytes = Uint8Array.from(text, (c) => this.byteDecoder.get(c)!)
    return new TextDecoder('utf-8').decode(bytes).replaceAll('</w>', ' ')
  }
}

let defaultTokenizer: SimpleTokenizer | undefined
/** The tokenizer for the vocabulary shipped in assets/, loaded on first use. */
export function getTokenizer(): SimpleTokenizer {
  defaultTokenizer ??= new SimpleTokenizer()
  return defaultTokenizer
}

export interface TokenBatch {
  /** texts.length × contextLength token ids, row-major, zero-padded. */
  ids: Int32Array
  contextLength: number
  /** Rows that were too long and cut, EOT last, so callers can report them. */
  truncated: number[]
}

/**
 * clip.tokenize: each text as SOT + tokens + EOT in a zero-padded row. CLIP's default is truncate=False (raise);
 * the port truncates by default and says which rows it cut (docs/method.md §5.6).
 */
export function tokenize(texts: string[], contextLength = 77, truncate = true): TokenBatch {
  const tokenizer = getTokenizer()
  const ids = new Int32Array(texts.length * contextLength)
  const truncated: number[] = []
  texts.forEach((text, i) => {
    let tokens = [SOT_TOKEN, ...tokenizer.encode(text), EOT_TOKEN]
    if (tokens.length > contextLength) {
      if (!truncate) throw new UserError(`Input ${text} is too long for context length ${contextLength}`)
      tokens = tokens.slice(0, contextLength)
      tokens[contextLength - 1] = EOT_TOKEN
      truncated.push(i)
    }
    ids.set(tokens, i * contextLength)
  })
  return {ids, contextLength, truncated}
}
