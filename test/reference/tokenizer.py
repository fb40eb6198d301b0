#!/usr/bin/python3
"""Reference token ids for test/tokenizer.test.ts: openai/CLIP's SimpleTokenizer and clip.tokenize, written out.

The tokenizer below follows clip/simple_tokenizer.py line for line and `tokenize` follows clip/clip.py, with Python
lists instead of a torch tensor (same values). The one change: CLIP's basic_clean calls ftfy.fix_text, and ftfy is
not installable here, so `fix_text` below applies the table-driven steps of ftfy 6.3 fix_text in its order (C1
controls as Windows-1252, Latin ligatures, full/half-width forms, curly quotes, line breaks, terminal escapes,
control characters, NFC). It leaves out ftfy's heuristic mojibake repair and ftfy's own HTML unescaping (the
double html.unescape that follows still runs); the TypeScript port does the same. The inputs below avoid text
those two would change, and when ftfy can be imported (PYTHONPATH pointing at an unpacked ftfy 6.3.1 wheel and
its dependency wcwidth) the script checks that the cleaned text equals CLIP's, with ftfy, on every input.

Writes test/fixtures/tokenizer/cases.json:
- cases: hand-written inputs (unicode, long text, whitespace, HTML entities, apostrophes, digits) with `text`,
  `ids` (encode), `decoded` (decode(ids)), `row` (the used prefix of the clip.tokenize(..., truncate=True) row,
  the rest is zeros) and `truncated`;
- captions: the same, without the text but with `source`, data row `index` and `column`, for the first rows of AudioCaps v1 val.csv and of Clotho's evaluation
  captions, read from ../shared/data (the test reads them from there too);
- decode: id sequences that do not come from encode (a multi-byte character cut short, special tokens).

Run from the repository root: /usr/bin/python3 test/reference/tokenizer.py (Python 3.11, python3-regex).
Rerunning gives identical bytes.
"""
import csv
import gzip
import html
import json
import unicodedata
from functools import lru_cache
from pathlib import Path

import regex as re

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "test" / "fixtures" / "tokenizer" / "cases.json"
SHARED = ROOT.parent / "shared" / "data"
BPE_PATH = ROOT / "assets" / "bpe_simple_vocab_16e6.txt.gz"

AUDIOCAPS_ROWS = 300
CLOTHO_FILES = 50  # five captions each


# --- the table-driven part of ftfy.fix_text (ftfy 6.3.1: fixes.py, chardata.py) ---

C1_CONTROL_RE = re.compile(r"[\x80-\x9f]")
LIGATURES = {
    ord("Ĳ"): "IJ", ord("ĳ"): "ij", ord("ŉ"): "ʼn", ord("Ǳ"): "DZ", ord("ǲ"): "Dz", ord("ǳ"): "dz",
    ord("Ǆ"): "DŽ", ord("ǅ"): "Dž", ord("ǆ"): "dž", ord("Ǉ"): "LJ", ord("ǈ"): "Lj", ord("ǉ"): "lj",
    ord("Ǌ"): "NJ", ord("ǋ"): "Nj", ord("ǌ"): "nj", ord("ﬀ"): "ff", ord("ﬁ"): "fi", ord("ﬂ"): "fl",
    ord("ﬃ"): "ffi", ord("ﬄ"): "ffl", ord("ﬅ"): "ſt", ord("ﬆ"): "st",
}
WIDTH_MAP = {0x3000: " "}
for _i in range(0xFF01, 0xFFF0):
    if unicodedata.normalize("NFKC", chr(_i)) != chr(_i):
        WIDTH_MAP[_i] = unicodedata.normalize("NFKC", chr(_i))
SINGLE_QUOTE_RE = re.compile("[\u02bc\u2018-\u201b]")
DOUBLE_QUOTE_RE = re.compile("[\u201c-\u201f]")
ANSI_RE = re.compile("\033\\[((?:\\d|;)*)([a-zA-Z])")
CONTROL_CHARS = dict.fromkeys(
    [*range(0x00, 0x09), 0x0B, *range(0x0E, 0x20), 0x7F, *range(0x206A, 0x2070), 0xFEFF, *range(0xFFF9, 0xFFFD)]
)


def fix_c1_controls(text):
    # ftfy decodes them as "sloppy" Windows-1252, where the five unassigned bytes stay C1 controls.
    def sloppy(match):
        b = match.group(0).encode("latin-1")
        try:
            return b.decode("windows-1252")
        except UnicodeDecodeError:
            return match.group(0)

    return C1_CONTROL_RE.sub(sloppy, text)


def fix_text(text):
    # One pass reaches ftfy's fixed point for these steps: none of them produces input for an earlier one.
    text = fix_c1_controls(text)
    text = text.translate(LIGATURES)
    text = text.translate(WIDTH_MAP)
    text = SINGLE_QUOTE_RE.sub("'", DOUBLE_QUOTE_RE.sub('"', text))
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n")
    text = text.replace("\u0085", "\n")
    text = ANSI_RE.sub("", text)
    text = text.translate(CONTROL_CHARS)
    return unicodedata.normalize("NFC", text)


# --- clip/simple_tokenizer.py ---

@lru_cache()
def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(2**8):
        if b not in bs:
            bs.append(b)
            cs.append(2**8 + n)
            n += 1
    cs = [chr(n) for n in cs]
    return dict(zip(bs, cs))


def get_pairs(word):
    pairs = set()
    prev_char = word[0]
    for char in word[1:]:
        pairs.add((prev_char, char))
        prev_char = char
    return pairs


def basic_clean(text):
    text = fix_text(text)
    text = html.unescape(html.unescape(text))
    return text.strip()


def whitespace_clean(text):
    text = re.sub(r"\s+", " ", text)
    text = text.strip()
    return text


class SimpleTokenizer(object):
    def __init__(self, bpe_path=BPE_PATH):
        self.byte_encoder = bytes_to_unicode()
        self.byte_decoder = {v: k for k, v in self.byte_encoder.items()}
        merges = gzip.open(bpe_path).read().decode("utf-8").split("\n")
        merges = merges[1 : 49152 - 256 - 2 + 1]
        merges = [tuple(merge.split()) for merge in merges]
        vocab = list(bytes_to_unicode().values())
        vocab = vocab + [v + "</w>" for v in vocab]
        for merge in merges:
            vocab.append("".join(merge))
        vocab.extend(["<|startoftext|>", "<|endoftext|>"])
        self.encoder = dict(zip(vocab, range(len(vocab))))
        self.decoder = {v: k for k, v in self.encoder.items()}
        self.bpe_ranks = dict(zip(merges, range(len(merges))))
        self.cache = {"<|startoftext|>": "<|startoftext|>", "<|endoftext|>": "<|endoftext|>"}
        self.pat = re.compile(
            r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
            re.IGNORECASE,
        )

    def bpe(self, token):
        if token in self.cache:
            return self.cache[token]
        word = tuple(token[:-1]) + (token[-1] + "</w>",)
        pairs = get_pairs(word)

        if not pairs:
            return token + "</w>"

        while True:
            bigram = min(pairs, key=lambda pair: self.bpe_ranks.get(pair, float("inf")))
            if bigram not in self.bpe_ranks:
                break
            first, second = bigram
            new_word = []
            i = 0
            while i < len(word):
                try:
                    j = word.index(first, i)
                    new_word.extend(word[i:j])
                    i = j
                except ValueError:
                    new_word.extend(word[i:])
                    break

                if word[i] == first and i < len(word) - 1 and word[i + 1] == second:
                    new_word.append(first + second)
                    i += 2
                else:
                    new_word.append(word[i])
                    i += 1
            new_word = tuple(new_word)
            word = new_word
            if len(word) == 1:
                break
            else:
                pairs = get_pairs(word)
        word = " ".join(word)
        self.cache[token] = word
        return word

    def encode(self, text):
        bpe_tokens = []
        text = whitespace_clean(basic_clean(text)).lower()
        for token in re.findall(self.pat, text):
            token = "".join(self.byte_encoder[b] for b in token.encode("utf-8"))
            bpe_tokens.extend(self.encoder[bpe_token] for bpe_token in self.bpe(token).split(" "))
        return bpe_tokens

    def decode(self, tokens):
        text = "".join([self.decoder[token] for token in tokens])
        text = bytearray([self.byte_decoder[c] for c in text]).decode("utf-8", errors="replace").replace("</w>", " ")
        return text


_tokenizer = SimpleTokenizer()


# --- clip/clip.py tokenize, rows as lists ---

def tokenize(texts, context_length=77, truncate=False):
    if isinstance(texts, str):
        texts = [texts]
    sot_token = _tokenizer.encoder["<|startoftext|>"]
    eot_token = _tokenizer.encoder["<|endoftext|>"]
    all_tokens = [[sot_token] + _tokenizer.encode(text) + [eot_token] for text in texts]
    result = [[0] * context_length for _ in all_tokens]
    for i, tokens in enumerate(all_tokens):
        if len(tokens) > context_length:
            if truncate:
                tokens = tokens[:context_length]
                tokens[-1] = eot_token
            else:
                raise RuntimeError(f"Input {texts[i]} is too long for context length {context_length}")
        result[i][: len(tokens)] = tokens
    return result


# --- inputs ---

LONG_CAPTION = "A man speaks while a crowd cheers and applauds loudly in a large stadium, followed by a whistle"

TEXTS = [
    "Hello World!",
    "hello world",
    "",
    "   ",
    " \t\n\r\n \u00a0\u2003\u3000 ",
    "  leading and trailing  ",
    "a\tb\nc\r\nd\re\u00a0f\u2003g\u2028h\u2029i\x85j\x0bk\x0cl",
    "dogs \u1680 bark\u205f\u202floudly",
    # HTML entities: CLIP unescapes twice
    "rock &amp; roll",
    "it&#39;s raining",
    "&quot;hello&quot; she said",
    "&amp;amp; and &amp;quot;twice&amp;quot;",
    "&lt;|endoftext|&gt; inside",
    "caf&eacute; &Eacute;T&Eacute; &copy 2020 &REG &notit; &ampfoo",
    "&#x1F600; &#128512; &#X41;&#65&#x42",
    "&#0; &#1; &#13; &#x80; &#150; &#xD800; &#x110000; &#xFFFE; &#99999999999999999999;",
    "&nbsp;spaced&nbsp;out &unknown; & alone &; &#; &#x;",
    "&hellip; &mdash; &lang;x&rang; &apos; &euro;",
    # apostrophes, lower and upper case
    "it's a dog's life",
    "IT'S A DOG'S LIFE",
    "don't DON'T we're WE'RE i've I'VE i'm I'M we'll WE'LL he'd HE'D",
    "rock'n'roll 'tis the dogs' bark ''s '",
    "it’s a dog’s “bark” ‘here’ ‛x‟ ʼtwas",
    "it'ſ <|ſtartoftext|>",
    # special tokens in the text
    "<|startoftext|>hello<|endoftext|>",
    "<|STARTOFTEXT|> <|EndOfText|> <|endoftext <|endoftext|",
    # digits and numbers
    "2020",
    "3.14159 and 1,000,000 dogs at 12:30pm",
    "٣٤٥ ½ ² Ⅻ ① ߁",
    "room 101b, 4x4, mp3, h264",
    # punctuation and symbols
    "...!!!??? -- a--b e-mail #hashtag @user",
    "http://example.com/a?b=c&d=e",
    "$100 50% 3+4=7 a*b (x) [y] {z} <tag> ~tilde~ `code` ^_^ \\ |",
    # accents, composed and decomposed
    "Café au lait, naïve façade, jalapeño",
    "Cafe\u0301 au lait, nai\u0308ve",
    "Ångström Ørsted Œuvre Æsir Þór Ðað",
    "STRASSE Straße STRAẞE",
    "İstanbul ıi DİYARBAKIR",
    "ΟΔΥΣΣΕΥΣ ΣΑΣ σ Σ",
    "Ǆ ǅ ǆ ﬁre ﬂame ﬃ ﬅ ĳs",
    "ＡＢＣ　１２３！ ｶﾀｶﾅ",
    # CJK, other scripts, right to left
    "狗在叫，雨在下。",
    "犬が吠えている。カタカナ",
    "개가 짖는다",
    "كلب ينبح في الشارع",
    "כלב נובח ברחוב",
    "mixed English עברית العربية text",
    "कुत्ता भौंकता है",
    "สุนัขเห่า",
    "Собака лает громко",
    # combining marks
    "e\u0301\u0302\u0323 o\u0308\u0304",
    "z̷̢a̸l̴g̵o̶ text",
    "a\u0345b \u0345",
    "\u0301start",
    # emoji
    "dog 🐕 barking 🔊",
    "👍🏽 👨‍👩‍👧 🇫🇮 ❤️ ☕",
    "🙂🙂🙂🙂🙂🙂",
    # invisible and control characters
    "\ufeffbom at start",
    "zero\u200bwidth\u200djoiner\u2060word",
    "nul\x00bell\x07esc\x1b[31mred\x1b[0m del\x7f",
    "c1 \x80 \x81 \x85 \x8d \x93quote\x94 \x9f",
    # long: more than 77 tokens, and the boundary
    LONG_CAPTION + ". " + LONG_CAPTION + ". " + LONG_CAPTION + ". " + LONG_CAPTION,
    " ".join(["a"] * 75),
    " ".join(["a"] * 76),
    " ".join(["a"] * 200),
    "supercalifragilisticexpialidocious" * 8,
    "🐕" * 40,
]

DECODE_IDS = [
    [49406, 3306, 1002, 256, 49407],
    [49406, 49407, 0, 0],
    [],
]


def read_captions():
    """(source, row, column) and caption for the first AudioCaps val rows and Clotho evaluation files."""
    out = []
    with open(SHARED / "audiocaps" / "v1" / "val.csv", newline="", encoding="utf-8") as f:
        for row, record in enumerate(csv.DictReader(f)):
            if row == AUDIOCAPS_ROWS:
                break
            out.append((("audiocaps/v1/val.csv", row, "caption"), record["caption"]))
    with open(SHARED / "clotho" / "clotho_captions_evaluation.csv", newline="", encoding="utf-8") as f:
        for row, record in enumerate(csv.DictReader(f)):
            if row == CLOTHO_FILES:
                break
            for k in range(1, 6):
                out.append((("clotho/clotho_captions_evaluation.csv", row, f"caption_{k}"), record[f"caption_{k}"]))
    return out


def expected(text):
    ids = _tokenizer.encode(text)
    row = tokenize(text, truncate=True)[0]
    used = min(len(ids) + 2, 77)
    return {"ids": ids, "row": row[:used], "truncated": len(ids) + 2 > 77}


def check_against_ftfy(texts):
    try:
        import ftfy
    except ImportError:
        print("ftfy not importable: fix_text not checked against it")
        return
    for text in texts:
        ours = whitespace_clean(basic_clean(text))
        theirs = whitespace_clean(html.unescape(html.unescape(ftfy.fix_text(text))).strip())
        assert ours == theirs, (text, ours, theirs)
    print(f"cleaning equals CLIP's (ftfy {ftfy.__version__}) on all {len(texts)} inputs")


def main():
    captions = read_captions()
    check_against_ftfy(TEXTS + [c for _, c in captions])
    assert tokenize("Hello World!")[0][:6] == [49406, 3306, 1002, 256, 49407, 0]
    cases = []
    for text in TEXTS:
        entry = {"text": text, **expected(text)}
        entry["decoded"] = _tokenizer.decode(entry["ids"])
        cases.append(entry)
    rows = [{"source": s, "index": r, "column": c, **expected(text)} for (s, r, c), text in captions]
    # Byte-level tokens that cut a 4-byte character: decode replaces the broken bytes with U+FFFD.
    dogs = _tokenizer.encode("🐕🐕")
    assert len(dogs) > 2
    cut = [dogs[:1], dogs[1:], dogs[::-1]]
    decode = [{"ids": ids, "text": _tokenizer.decode(ids)} for ids in DECODE_IDS + cut]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    doc = {"cases": cases, "captions": rows, "decode": decode}
    text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
    # One case per line keeps diffs readable.
    text = text.replace("},{", "},\n{")
    OUT.write_text(text + "\n", encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}: {len(cases)} cases, {len(rows)} captions, {len(decode)} decodes, "
          f"{OUT.stat().st_size} bytes")


if __name__ == "__main__":
    main()
