# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Module 10: Tokenization
#
# Every network so far read numbers: pixels, features. A language model reads text, and text is
# not numbers. The **tokenizer** is the map between the two: it cuts a string into pieces
# (tokens), gives each piece an integer id, and turns ids back into the exact same string. It is
# fixed before training and never learns afterwards, yet it decides what the model can see: how
# long its sequences are, how big its embedding table and output layer are, and whether it can
# read a word it has never met, an accented name or an emoji.
#
# ## Learning objectives
# - Weigh the three classic choices (characters, bytes, byte-pair merges) by **vocabulary size**
#   against **sequence length**, with their costs in parameters and in attention memory.
# - Build a **character tokenizer** with special tokens and a clear error for unknown characters.
# - Read text as **UTF-8 bytes**: why an emoji is 4 tokens at byte level, and why a byte-level
#   tokenizer can encode every string.
# - Train **byte-pair encoding** (BPE), first the obvious way, then **incrementally**: only the
#   words that contain the merged pair are touched, and a priority queue finds the next pair.
# - Encode by applying merges in rank order with a per-word cache, decode by joining bytes, and
#   prove `decode(encode(s)) == s`.
# - Measure vocabulary size against sequence length on Shakespeare.
#
# ## How to work
# In your edition, each piece you write is a stub that raises `NotImplementedError`: replace
# the `raise` with your code, then run the test cell right after it. Stuck? `tito hint 10`
# lists the stubs; `tito hint 10 NAME` (e.g. `tito hint 10 merge_pair`) shows the next hint
# for one stub, from the idea to the math to the shape of the code, one level at a time.
# When every test passes, run `tito module complete 10`.

# %% nbgrader={"grade": false, "grade_id": "tokenization-setup", "locked": false, "schema_version": 3, "solution": false, "task": false}
#| default_exp tokenization
#| export
import heapq
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from tinytorch.tensor import Tensor

# %% [markdown]
# ## 1. Why tokenize, and what it costs
#
# A language model reads a sequence of `T` integer ids, each in `0 … V−1`, and at every
# position predicts a probability for each of the `V` possible next ids. Two sizes follow from
# the tokenizer alone:
#
# - **The vocabulary `V`** sets the size of the embedding table (module 11: one row of `D`
#   numbers per id) and of the output layer (`D × V` weights, a softmax over `V` at every
#   position). GPT-2 has `V = 50,257` and `D = 768`: its embedding table alone is
#   50,257 × 768 = 38.6 M parameters, 31 % of the 124 M model.
# - **The sequence length `T`** for a given text sets the cost of attention (module 12): every
#   token scores every earlier one, a `T × T` matrix per head and layer. At `T = 1,024` that is
#   1 M scores, 4 MB in float32, per head per layer; the same text at 4× more tokens is 16× more.
#   A model with a context of 256 tokens sees 256 characters of Shakespeare at one character
#   per token, and about a thousand at four.
#
# Small vocabulary, long sequences; large vocabulary, short sequences. Three standard points:
#
# | tokens are | `V` | every string encodable? | tokens for English text |
# |---|---|---|---|
# | characters | the characters of the training text (76 for our Shakespeare) | no: an unseen character has no id | 1 per character |
# | bytes (UTF-8) | 256 | yes | ≈ 1 per character (4 for an emoji) |
# | byte-pair merges (BPE) | 256 + number of merges (GPT-2: 50 k) | yes | 1 per 2.4 characters at `V = 1,024` on Shakespeare (section 7); ≈ 1 per 4 for GPT-2 |
#
# Every tokenizer here offers the same four things: `train(text)` builds the vocabulary,
# `encode(text) -> list[int]`, `decode(ids) -> str`, and `vocab_size`. The one property that
# must never fail is the **round trip**: `decode(encode(s)) == s`, character for character.
#
# **Special tokens** are strings with a reserved id that never come from ordinary text
# splitting, such as `"<|endoftext|>"` between documents: the model learns where a document
# ends, and generation can stop there. When one occurs in the text you encode, it becomes its
# single id. The given helper `_split_special` cuts a text into ordinary pieces and special
# tokens, longest special token first, with the position where each piece starts.

# %% nbgrader={"grade": false, "grade_id": "helpers", "locked": false, "schema_version": 3, "solution": false, "task": false}
#| export
def _check_text(text, where: str) -> str:
    if not isinstance(text, str):
        raise TypeError(f"{where} takes a str, got {type(text).__name__}")
    return text


def _check_special_tokens(special_tokens) -> tuple[str, ...]:
    if isinstance(special_tokens, str):
        raise TypeError(f"special_tokens is a sequence of strings such as ['<|endoftext|>'], "
                        f"not one string ({special_tokens!r})")
    tokens = tuple(special_tokens)
    for i, token in enumerate(tokens):
        if not isinstance(token, str) or not token:
            raise ValueError(f"special token {i} must be a non-empty str, got {token!r}")
    repeated = sorted({t for t in tokens if tokens.count(t) > 1})
    if repeated:
        raise ValueError(f"special tokens must be distinct, {repeated} appear more than once")
    return tokens


def _special_pattern(special_tokens: Sequence[str]) -> re.Pattern | None:
    """One regex matching any special token, longest first (so '<a><b>' wins over '<a>')."""
    if not special_tokens:
        return None
    ordered = sorted(special_tokens, key=len, reverse=True)
    return re.compile("|".join(re.escape(t) for t in ordered))


def _split_special(text: str, pattern: re.Pattern | None,
                   special_tokens: Sequence[str]) -> Iterable[tuple[int, str, int | None]]:
    """Yield `(start, piece, k)`: ordinary text has `k = None`; special token `k` has its index."""
    position = 0
    if pattern is not None:
        index = {t: k for k, t in enumerate(special_tokens)}
        for match in pattern.finditer(text):
            if match.start() > position:
                yield position, text[position:match.start()], None
            yield match.start(), match.group(), index[match.group()]
            position = match.end()
    if position < len(text):
        yield position, text[position:], None


def _as_ids(ids, vocab_size: int, where: str) -> list[int]:
    """A 1-D list, array or Tensor of whole numbers in 0..vocab_size-1, as a list of ints."""
    array = np.asarray(ids.data if isinstance(ids, Tensor) else ids)
    if array.ndim != 1:
        raise ValueError(f"{where} takes a 1-D sequence of token ids, got shape {array.shape}")
    if array.size == 0:
        return []
    numeric = np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
    if array.dtype == np.bool_ or not numeric:
        raise TypeError(f"{where} takes integer token ids, got dtype {array.dtype}")
    if np.issubdtype(array.dtype, np.floating):
        fractional = np.flatnonzero(~np.isfinite(array) | (array != np.round(array)))
        if fractional.size:
            i = int(fractional[0])
            raise TypeError(f"{where}: token ids must be whole numbers, got {array[i]} at position {i}")
    outside = np.flatnonzero((array < 0) | (array >= vocab_size))
    if outside.size:
        i = int(outside[0])
        raise ValueError(f"{where}: id {array[i]:g} at position {i} is out of range 0..{vocab_size - 1} "
                         f"(vocabulary of {vocab_size})")
    return array.astype(np.int64).tolist()


def _write_json(path, data: dict) -> None:
    """Write `data` as UTF-8 JSON atomically: a partial file beside it, then one rename."""
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot save to {path}: the folder {path.parent} does not exist")
    partial = path.with_name(path.name + ".partial")
    try:
        partial.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        partial.replace(path)  # readers see the old file or the new one, never half of one
    finally:
        partial.unlink(missing_ok=True)  # left only when writing failed (a full disk): remove it


def _read_json(path, kind: str) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no tokenizer file at {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path} is not a tokenizer file (not UTF-8 JSON: {e})") from None
    if not isinstance(data, dict) or data.get("type") != kind:
        found = data.get("type") if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"{path} holds {found!r}, expected a {kind!r} tokenizer file")
    return data


# %% [markdown]
# ## 2. Characters: `CharTokenizer`
#
# The simplest vocabulary is the set of characters of the training text. For
# `"to be or not"` it is `' ', 'b', 'e', 'n', 'o', 'r', 't'`: seven ids, and the text encodes to
# twelve ids, one per character.
#
# **The specification** (the tests check each point):
# - `CharTokenizer(special_tokens=())`. The vocabulary is `self.itos` ("id to string", a list:
#   `itos[i]` is the string of id `i`) and `self.stoi` ("string to id", the inverse dict).
#   Special tokens take the first ids, in the order given; before `train`, they are the whole
#   vocabulary.
# - `train(text)` rebuilds the vocabulary: the special tokens, then every distinct character of
#   the text **in sorted order** (sorted by code point, so the same text always gives the same
#   ids on every machine; the order of a Python `set` is not fixed). Special tokens that occur in
#   the training text are not characters: skip those pieces (`_split_special`). Returns `self`.
# - `encode(text)` returns one id per character, and the single id of each special token.
#   A character not in the vocabulary is a `ValueError` that names the character and its
#   position in the text: a model must never receive a silently wrong id.
# - Both walk the text with the given method `self._pieces(text)`, which yields
#   `(start, piece, special)`: ordinary text has `special = None`; a special token has its index
#   in `special_tokens`, which is also its id here.
# - `decode(ids)` accepts a list, a NumPy array or a Tensor of ids (the given `_as_ids` checks
#   them and returns a list of ints) and joins their strings.
#
# Saving is given: a JSON file with the special tokens and the characters, read back by
# `CharTokenizer.load(path)`.

# %% nbgrader={"grade": false, "grade_id": "char-tokenizer", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
class CharTokenizer:
    """One id per character of the training text; special tokens take the first ids."""

    def __init__(self, special_tokens: Sequence[str] = ()):
        self.special_tokens = _check_special_tokens(special_tokens)
        self._special = _special_pattern(self.special_tokens)
        self.itos: list[str] = list(self.special_tokens)
        self.stoi: dict[str, int] = {s: i for i, s in enumerate(self.itos)}

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def _pieces(self, text: str) -> Iterable[tuple[int, str, int | None]]:
        return _split_special(text, self._special, self.special_tokens)

    def train(self, text: str) -> "CharTokenizer":
        """Vocabulary: the special tokens, then the sorted distinct characters of `text`."""
        _check_text(text, "CharTokenizer.train")
        ### BEGIN SOLUTION
        chars = set()
        for _, piece, special in self._pieces(text):
            if special is None:
                chars.update(piece)
        self.itos = list(self.special_tokens) + sorted(chars)
        self.stoi = {s: i for i, s in enumerate(self.itos)}
        ### END SOLUTION
        return self

    def encode(self, text: str) -> list[int]:
        """One id per character (a special token: its one id); unknown characters: ValueError."""
        _check_text(text, "CharTokenizer.encode")
        ids: list[int] = []
        ### BEGIN SOLUTION
        for start, piece, special in self._pieces(text):
            if special is not None:
                ids.append(special)
                continue
            for offset, char in enumerate(piece):
                if char not in self.stoi:
                    raise ValueError(f"CharTokenizer.encode: character {char!r} at position {start + offset} "
                                     f"is not in the vocabulary of {self.vocab_size} (train on a text that has it)")
                ids.append(self.stoi[char])
        ### END SOLUTION
        return ids

    def decode(self, ids) -> str:
        """The text of `ids` (list, array or Tensor of ints)."""
        ids = _as_ids(ids, self.vocab_size, "CharTokenizer.decode")
        ### BEGIN SOLUTION
        return "".join(self.itos[i] for i in ids)
        ### END SOLUTION

    def save(self, path) -> None:
        """Write the vocabulary as UTF-8 JSON (given)."""
        chars = self.itos[len(self.special_tokens):]
        _write_json(path, {"type": "CharTokenizer", "version": 1,
                           "special_tokens": list(self.special_tokens), "chars": chars})

    @classmethod
    def load(cls, path) -> "CharTokenizer":
        """Read a file written by `save` (given)."""
        data = _read_json(path, "CharTokenizer")
        chars = data.get("chars")
        if not isinstance(chars, list) or not all(isinstance(c, str) and len(c) == 1 for c in chars):
            raise ValueError(f"{path}: 'chars' must be a list of single characters")
        tok = cls(data.get("special_tokens", []))
        tok.itos = list(tok.special_tokens) + chars
        tok.stoi = {s: i for i, s in enumerate(tok.itos)}
        if len(tok.stoi) != len(tok.itos):
            raise ValueError(f"{path}: the vocabulary repeats a character")
        return tok

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size}, special_tokens={list(self.special_tokens)})"


# %% [markdown]
# ### Unit test: `CharTokenizer`
# Sorted vocabulary after the special tokens, one id per character, special tokens as single
# ids, the round trip, ids from a Tensor, and the error for a character it never saw.

# %% nbgrader={"grade": true, "grade_id": "test-char-tokenizer", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_char_tokenizer():
    from tinytorch.testing import raises
    tok = CharTokenizer(special_tokens=["<eos>"]).train("to be<eos> or not")
    want = ["<eos>", " ", "b", "e", "n", "o", "r", "t"]
    assert tok.itos == want, f"vocabulary: special tokens first, then sorted characters {want}, got {tok.itos}"
    assert tok.vocab_size == 8 and tok.stoi["t"] == 7, f"vocab_size 8 and stoi['t'] == 7, got {tok.vocab_size}, {tok.stoi}"
    ids = tok.encode("not to be<eos>")
    assert ids == [4, 5, 7, 1, 7, 5, 1, 2, 3, 0], f"encode('not to be<eos>') gave {ids}"
    assert tok.decode(ids) == "not to be<eos>", f"decode(encode(s)) must give s back, got {tok.decode(ids)!r}"
    assert tok.decode(Tensor(np.array([7, 5]))) == "to", "decode takes a Tensor of ids"
    assert tok.decode(np.array([], dtype=np.int64)) == "" and tok.encode("") == [], "the empty text is fine"
    raises(ValueError, lambda: tok.encode("to bee!"), "'!'", "position 6")
    raises(ValueError, lambda: tok.encode("to<eos>be!"), "'!'", "position 9")  # in the whole text, not the piece
    raises(ValueError, lambda: tok.decode([3, 8]), "8", "position 1")
    again = tok.train("aXa")
    assert again is tok and tok.itos == ["<eos>", "X", "a"], f"train rebuilds the vocabulary and returns self, got {tok.itos}"
    plain = CharTokenizer().train("hello, world")
    assert plain.encode("lol") == [5, 6, 5], f"without special tokens: ids start at 0, got {plain.encode('lol')}"
    print("CharTokenizer: OK")


if __name__ == "__main__":
    test_unit_char_tokenizer()

# %% [markdown]
# ## 3. Bytes: UTF-8
#
# A character tokenizer trained on Shakespeare cannot encode `"café 🙂"`: the text has no `é`
# and no emoji. Unicode has about 150,000 assigned characters; a vocabulary cannot hold them
# all, but every one of them is stored as **1 to 4 bytes** in UTF-8, and there are only 256
# possible bytes. A tokenizer whose base vocabulary is the 256 bytes can encode any string.
#
# UTF-8 writes a code point (the character's number) in as many bytes as it needs. ASCII
# (`U+0000`–`U+007F`) is one byte, unchanged. Longer forms start with a lead byte that says how
# long the sequence is (`110xxxxx`: 2 bytes, `1110xxxx`: 3, `11110xxx`: 4), and each continuation byte
# is `10xxxxxx`, carrying 6 bits. The slightly smiling face 🙂 is `U+1F642`; its 21 bits
# `000 011111 011001 000010` fill the `x`s of the 4-byte form:
#
# | character | code point | UTF-8 bytes |
# |---|---|---|
# | `A` | U+0041 | `41` |
# | `é` | U+00E9 | `C3 A9` |
# | `ж` | U+0436 | `D0 B6` |
# | `你` | U+4F60 | `E4 BD A0` |
# | `🙂` | U+1F642 | `F0 9F 99 82` (`11110000 10011111 10011001 10000010`) |
#
# Two consequences for tokenizers. First, **a byte-level sequence is longer** for every
# character outside ASCII: one emoji is one character but four byte tokens, and the family
# emoji below is five code points joined into one picture, 18 bytes. Second, **a token may
# hold part of a character**: decoding token by token can meet a lone `F0`, which is not text
# yet. Decoding must join all the bytes first and turn them into text once.

# %% nbgrader={"grade": false, "grade_id": "utf8-demo", "locked": false, "schema_version": 3, "solution": false, "task": false}
if __name__ == "__main__":
    for sample in ["A", "é", "ж", "你", "🙂", "👨‍👩‍👧"]:
        raw = sample.encode("utf-8")
        points = " ".join(f"U+{ord(c):04X}" for c in sample)
        print(f"{sample}: {len(sample)} code point(s) {points}, {len(raw)} bytes: {raw.hex(' ').upper()}")

# %% [markdown]
# ## 4. Byte-pair encoding: merge the most frequent pair
#
# Bytes can encode everything but make sequences long. **Byte-pair encoding** (Sennrich et al.,
# 2016, after a 1994 compression scheme by Gage; used by GPT-2 and its successors) shortens them
# by learning new tokens from the training text:
#
# 1. Write every word as its bytes, ids `0 … 255`.
# 2. Count every pair of adjacent ids, over all words.
# 3. The most frequent pair `(a, b)` becomes a new token with the next free id (`256` for the
#    first merge, `257` for the second, …); replace each of its occurrences, left to right.
# 4. Repeat until the vocabulary has the size you asked for (or no pair is left).
#
# The learned list of merges, in order, *is* the tokenizer: merge `k` makes id `256 + k`.
#
# **Words first.** Before counting, the text is cut into words (`pretokenize`, given): a run
# of letters or digits, or a run of punctuation, each with the one space in front of it kept
# at its start; other whitespace stays in runs of its own. `"To be, or not"` becomes
# `'To' ' be' ',' ' or' ' not'`. Merges never cross a word boundary, so no token glues the end
# of one word to the next one, and `' be'` (space included) can become one token, the way GPT-2
# does it. The pieces concatenate back to the text exactly, so the round trip survives. And the
# training works on **unique words with their counts**: the 1,035,997 characters of the
# Shakespeare corpus are 280,287 words but only 15,644 distinct ones (112,050 bytes in all), so
# every pass over "all words" is nine times shorter than a pass over the text.
#
# **A worked example.** Three words with counts: `' hug'` × 5, `' pug'` × 2, `' hugs'` × 1
# (bytes: space 32, `h` 104, `u` 117, `g` 103, `p` 112, `s` 115). Pair counts, weighted by the
# word counts: `(32, 104)` 6, `(104, 117)` 6, `(117, 103)` 8, `(32, 112)` 2, `(112, 117)` 2,
# `(103, 115)` 1. The first merge is `(117, 103)` = `"ug"` → id 256, and the words become
# `[32, 104, 256]`, `[32, 112, 256]`, `[32, 104, 256, 115]`.
#
# **Ties.** Now `(32, 104)` and `(104, 256)` both occur 6 times. The rule, here and in every
# trainer of this module: the highest count wins; among equal counts, the **smallest pair**,
# comparing the first ids, then the second. So merge 2 is `(32, 104)` = `" h"` → 257. Any fixed
# rule would do; what matters is that it depends on nothing else (not on the order in which a
# dict or a set happens to hold the pairs), so two implementations and two machines agree.
#
# **Your part**, the two building blocks:
# - `count_pairs(words, counts)`: a dict `{(a, b): total}` over every adjacent pair of every
#   word, each occurrence counted with its word's count. Pairs that occur nowhere are absent.
# - `merge_pair(word, pair, new_id)`: a new list with each occurrence of `pair` replaced by
#   `new_id`, scanning left to right. Occurrences can overlap: in `[7, 7, 7]`, merging
#   `(7, 7)` gives `[new_id, 7]` (the first two merge; the third has no partner left).
#   The input word is left unchanged.

# %% nbgrader={"grade": false, "grade_id": "bpe-blocks", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
PRETOKENIZE = re.compile(r" ?\w+| ?[^\w\s]+|\s+(?= \S)|\s+")


def pretokenize(text: str) -> list[str]:
    """Cut text into words: letters/digits or punctuation runs with their leading space, and
    whitespace runs (given). `"".join(pretokenize(s)) == s` for every string."""
    return PRETOKENIZE.findall(text)


def count_pairs(words: Sequence[Sequence[int]], counts: Sequence[int]) -> dict[tuple[int, int], int]:
    """How often each adjacent pair occurs: sum over words of (occurrences in the word) × count."""
    ### BEGIN SOLUTION
    pairs = defaultdict(int)
    for word, count in zip(words, counts):
        for pair in zip(word, word[1:]):
            pairs[pair] += count
    return dict(pairs)
    ### END SOLUTION


def merge_pair(word: Sequence[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """A new list: every occurrence of `pair` in `word`, left to right, replaced by `new_id`."""
    ### BEGIN SOLUTION
    first, second = pair
    merged, i, n = [], 0, len(word)
    while i < n:
        if i + 1 < n and word[i] == first and word[i + 1] == second:
            merged.append(new_id)
            i += 2
        else:
            merged.append(word[i])
            i += 1
    return merged
    ### END SOLUTION


# %% [markdown]
# ### Unit test: counting and merging pairs
# The worked example above, overlapping pairs, a pair at the very end of a word, and words of
# one id (which have no pairs).

# %% nbgrader={"grade": true, "grade_id": "test-bpe-blocks", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_bpe_blocks():
    words = [list(b" hug"), list(b" pug"), list(b" hugs"), [65]]
    counts = [5, 2, 1, 9]
    got = count_pairs(words, counts)
    want = {(32, 104): 6, (104, 117): 6, (117, 103): 8, (32, 112): 2, (112, 117): 2, (103, 115): 1}
    assert got == want, f"count_pairs of the worked example: expected {want}, got {dict(got)}"
    assert count_pairs([[7, 7, 7, 7]], [3]) == {(7, 7): 9}, \
        f"[7, 7, 7, 7] holds (7, 7) three times (weighted by count 3: 9), got {count_pairs([[7, 7, 7, 7]], [3])}"
    word = [32, 104, 117, 103, 115]
    assert merge_pair(word, (117, 103), 256) == [32, 104, 256, 115], f"merge 'ug' in ' hugs': {merge_pair(word, (117, 103), 256)}"
    assert word == [32, 104, 117, 103, 115], "merge_pair must not change its input"
    cases = [([7, 7, 7], (7, 7), [9, 7]), ([7, 7, 7, 7], (7, 7), [9, 9]), ([1, 2, 1, 2], (1, 2), [9, 9]),
             ([3, 1, 2], (1, 2), [3, 9]), ([1, 2, 3], (2, 1), [1, 2, 3]), ([2, 1, 1], (1, 1), [2, 9]),
             ([1], (1, 2), [1]), ([], (1, 2), [])]
    for before, pair, after in cases:
        got = merge_pair(before, pair, 9)
        assert got == after, f"merge_pair({before}, {pair}, 9): expected {after}, got {got}"
    print("count_pairs and merge_pair: OK")


if __name__ == "__main__":
    test_unit_bpe_blocks()

# %% [markdown]
# ## 5. Training: from recounting to incremental updates
#
# With the two blocks, the obvious trainer is five lines (given below as `learn_merges_naive`):
# for every merge, count all pairs of all words, take the best, merge it in every word. Its cost
# is `merges × (total ids in all words)`: for 768 merges on the 112 k ids of Shakespeare's
# distinct words, 86 M pair visits and as many again to merge: 66 s of CPU time on our build
# machine, against 1.1 s for the incremental trainer below (the same 768 merges), 60 times less.
# (Wall-clock times on a busy machine are longer for both; the demo cell of section 7 measures
# the ratio on yours.) Most of
# that work is wasted: a merge of `"ug"` changes only the words that contain `"ug"`, and every
# other pair count stays exactly what it was.
#
# **Incremental training** keeps the pair counts from one merge to the next and updates them.
# How is your design; the contract is what the test checks:
# - **The same merges** as `learn_merges_naive`, in the same order, with the tie rule of
#   section 4 (highest count, then the smallest pair), on every input: the test compares the
#   two on several texts, from 1 merge to running out of pairs.
# - **No recounting.** `count_pairs` may see all the words once, at the start; after that only
#   the words a merge visits (`count_pairs([old], [c])` on one word is fine). Recounting all
#   of them after every merge is the naive algorithm again, and the test counts the calls.
#
# The decisions, and what to weigh:
# - **Which words to visit.** A merge of `(a, b)` changes only the words that contain it. How
#   do you find those without scanning every word? What does your index cost in memory, and
#   must it be exact after every merge, or is a word listed under a pair it has lost harmless?
# - **How counts change.** For one visited word with count `c`, which pair counts change, and
#   by how much? Only the pairs around each merged occurrence really change; treating the whole
#   (short) word at once may be simpler and still exact. A pair whose count drops to zero must
#   not be merged later.
# - **How to find the best pair.** A scan of all current counts per merge is correct, and costs
#   as many steps as there are distinct pairs (tens of thousands on Shakespeare) for every merge.
#   A priority queue (`heapq`, imported at the top) answers faster, but counts change after a
#   pair was queued: how do you keep a changed count from being taken at its old value, and does
#   your queue order agree with the tie rule?
#
# The cost per merge becomes proportional to the words that contain the pair: early merges
# (`" t"`, `"he"`) touch thousands of words, late ones a handful. The demo cell in section 7
# times your trainer against the naive one on the same words.
#
# **Your part:** `learn_merges(word_counts, num_merges)`. `word_counts` maps each word (as
# `bytes`, which Python iterates as ints `0 … 255`) to its count; the result is the list of
# merged pairs, in order, at most `num_merges` of them (fewer if no pair is left).

# %% nbgrader={"grade": false, "grade_id": "learn-merges", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def learn_merges_naive(word_counts: Mapping[bytes, int], num_merges: int) -> list[tuple[int, int]]:
    """The reference trainer (given): recount every pair before every merge. Slow, obviously right."""
    words = [list(word) for word in word_counts]
    counts = list(word_counts.values())
    merges: list[tuple[int, int]] = []
    while len(merges) < num_merges:
        pairs = count_pairs(words, counts)
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))  # highest count, then the smallest pair
        words = [merge_pair(word, best, 256 + len(merges)) for word in words]
        merges.append(best)
    return merges


def learn_merges(word_counts: Mapping[bytes, int], num_merges: int) -> list[tuple[int, int]]:
    """The same merges as `learn_merges_naive`, updating pair counts per merge instead of recounting."""
    words = [list(word) for word in word_counts]
    counts = list(word_counts.values())
    merges: list[tuple[int, int]] = []
    ### BEGIN SOLUTION
    pair_counts = count_pairs(words, counts)
    where = defaultdict(set)  # pair -> indices of the words that hold it
    for w, word in enumerate(words):
        for pair in zip(word, word[1:]):
            where[pair].add(w)
    heap = [(-n, pair) for pair, n in pair_counts.items()]
    heapq.heapify(heap)
    while heap and len(merges) < num_merges:
        negative, best = heapq.heappop(heap)
        current = pair_counts.get(best, 0)
        if current != -negative:  # stale entry: requeue with the current count, if any
            if current > 0:
                heapq.heappush(heap, (-current, best))
            continue
        new_id = 256 + len(merges)
        merges.append(best)
        changed = defaultdict(int)  # pair -> change of its count by this merge
        for w in where.pop(best):
            old, count = words[w], counts[w]
            new = merge_pair(old, best, new_id)
            words[w] = new
            for pair in zip(old, old[1:]):
                changed[pair] -= count
            for pair in zip(new, new[1:]):
                changed[pair] += count
                where[pair].add(w)
        for pair, delta in changed.items():
            if delta == 0:
                continue
            pair_counts[pair] = pair_counts.get(pair, 0) + delta
            if delta > 0:
                heapq.heappush(heap, (-pair_counts[pair], pair))
            elif pair_counts[pair] == 0:
                del pair_counts[pair]
    ### END SOLUTION
    return merges


# %% [markdown]
# ### Unit test: incremental training
# The worked example of section 4 (including its tie), a text where counts drop and rise during
# training, overlapping repeats, and agreement with the naive trainer on several texts.

# %% nbgrader={"grade": true, "grade_id": "test-learn-merges", "locked": true, "points": 20, "schema_version": 3, "solution": false, "task": false}
def test_unit_learn_merges():
    def explain(word_counts, fast, slow):
        """Where the two lists of merges part, and what the pair counts were at that point."""
        i = next((k for k, (a, b) in enumerate(zip(fast, slow)) if a != b), min(len(fast), len(slow)))
        words, counts = [list(w) for w in word_counts], list(word_counts.values())
        for k, pair in enumerate(slow[:i]):
            words = [merge_pair(w, pair, 256 + k) for w in words]
        now = count_pairs(words, counts)
        if i >= len(slow):
            return f"merges 0..{i - 1} agree, then you made more: {fast[i:i + 3]}…, but no pair is left"
        if i >= len(fast):
            best = slow[i]
            return f"merges 0..{i - 1} agree, then you stopped; {best} still occurs {now.get(best, 0)} times"
        want, got = slow[i], fast[i]
        if max(got) >= 256 + i:
            why = f"your pair uses id {max(got)}, which no merge has made yet: merge k makes id 256 + k"
        elif got not in now:
            why = ("this pair no longer occurs at that point: your count for it did not come down to 0 (a visited "
                   "word changes each pair's count by the word's count)")
        elif now[got] == now[want]:
            why = ("equal counts at that point, and the tie goes to the smallest pair (if your code breaks ties "
                   "that way, the count it used for your pair was out of date)")
        else:
            why = "your pair has the lower count at that point: a count not updated after a merge, or a stale count"
        return (f"merge {i} (the first {i} agree): expected {want} (count {now[want]}), got {got} "
                f"(count {now.get(got, 0)} at that point): {why}")

    example = {b" hug": 5, b" pug": 2, b" hugs": 1}
    got = learn_merges(example, 3)
    assert got[:2] == [(117, 103), (32, 104)], \
        f"worked example: first 'ug' (117, 103), then the tie at count 6 goes to the smaller pair (32, 104); got {got}"
    assert got == learn_merges_naive(example, 3), \
        f"3 merges of the worked example: {explain(example, got, learn_merges_naive(example, 3))}"
    everything = learn_merges(example, 100)
    assert everything == learn_merges_naive(example, 100), \
        f"the worked example to the end (6 merges): {explain(example, everything, learn_merges_naive(example, 100))}"
    texts = ["aaaaaaa aaa aa a", "abababab ba ab aba", "the cat sat on the mat with the hat; that hat, the cat's",
             "to be, or not to be: that is the question. 🙂🙂 été été!", "xyxyz zyx xyz" * 3, "ab" * 8 + " abc" * 5]
    for text in texts:
        words = Counter(piece.encode("utf-8") for piece in pretokenize(text))
        for n in (1, 5, 40):
            fast, slow = learn_merges(words, n), learn_merges_naive(words, n)
            assert fast == slow, f"{n} merges on {text!r}: {explain(words, fast, slow)}"
    assert learn_merges({b"a": 3}, 5) == [] and learn_merges({}, 5) == [], "no pairs, no merges"

    hamlet = Counter(p.encode() for p in pretokenize(texts[3] + " whether 'tis nobler in the mind to suffer the "
                                                     "slings and arrows of outrageous fortune, or to take arms"))
    sizes = []  # how many words each call of count_pairs receives
    original = count_pairs

    def counting(words, counts):
        words, counts = list(words), list(counts)
        sizes.append(len(words))
        return original(words, counts)
    globals()["count_pairs"] = counting
    try:
        learn_merges(hamlet, 30)
    finally:
        globals()["count_pairs"] = original
    recounts = sum(size > len(hamlet) // 2 for size in sizes)
    assert recounts <= 1, (f"learn_merges passed (at least half of) all {len(hamlet)} words to count_pairs {recounts} "
                           f"times for 30 merges: count them once at the start, then visit only the words that "
                           f"hold the merged pair")
    print("learn_merges: OK")


if __name__ == "__main__":
    test_unit_learn_merges()

# %% [markdown]
# ## 6. The BPE tokenizer: encode in rank order, decode bytes
#
# `BPETokenizer(vocab_size, special_tokens=())` puts the pieces together. Its ids: the 256
# bytes, then one id per merge (`256 + k` for merge `k`), then the special tokens. So
# `vocab_size = 1024` with one special token learns `1024 − 256 − 1 = 767` merges. `train`
# (given) cuts the text around special tokens, pre-tokenizes, counts the distinct words as UTF-8
# bytes and calls your `learn_merges`; `self.merges` is the list of merged pairs, and
# `self._ranks` maps each pair to its rank `k`. `self._token_bytes[i]` is the byte string of
# token `i` (given: the bytes of a merged token are the bytes of its pair, joined).
#
# **Encoding one word** (`_encode_word(piece)`, your part) must give exactly the ids that
# training gave the word: start from its bytes and apply the merges **in the order they were
# learned** (merge `k` makes id `256 + k`). The cell below trains the worked example of
# section 4 to the end and applies its merges to `" hugs"` one after the other, the way training
# did: each merge either rewrites the word or finds no pair in it and changes nothing. That
# walks the whole list of merges for every word, thousands of them for a handful of pairs.
# `_encode_word` must reach the same ids while looking only at the pairs that are in the word:
# of the merges, which one can apply next, and how do you know that no skipped merge would have
# changed the word? The order matters: merging in text order, or the longest token first, gives
# ids that training never produced (the test has both cases).

# %% nbgrader={"grade": false, "grade_id": "rank-order-demo", "locked": false, "schema_version": 3, "solution": false, "task": false}
if __name__ == "__main__":
    example_merges = learn_merges({b" hug": 5, b" pug": 2, b" hugs": 1}, 100)
    print(f"the {len(example_merges)} merges of the worked example:", example_merges)
    hugs = list(b" hugs")
    for rank, pair in enumerate(example_merges):
        after = merge_pair(hugs, pair, 256 + rank)
        print(f"rank {rank} {pair}: {hugs} -> {after}" if after != hugs else f"rank {rank} {pair}: not in the word")
        hugs = after

# %% [markdown]
# **Speed: cache per word.** Text repeats words: the 280 k words of Shakespeare are 16 k
# distinct strings. `encode` (given) keeps a dict from word to ids, so each
# distinct word is merged once; the rest is dict lookups.
#
# **Decoding** (`decode(ids, errors="replace")`, your part): join the byte strings of all ids,
# then turn the whole byte string into text once, with the given `_decode_utf8(data, errors)`.
# Never token by token: a token may end in the middle of a character (section 3). A sequence
# of ids can be invalid UTF-8 (a model may sample the first three bytes of an emoji and stop);
# with `errors="replace"` each broken sequence becomes `"\ufffd"` (�), visible but not fatal,
# and with `errors="strict"` it is a `ValueError` that names the byte offset. Strings that
# Python holds but UTF-8 forbids (a lone surrogate such as `"\ud800"`, e.g. from a broken JSON
# file) go through the "surrogatepass" error handler both ways, so the round trip holds for
# every `str`.

# %% nbgrader={"grade": false, "grade_id": "bpe-tokenizer", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def _decode_utf8(data: bytes, errors: str = "replace") -> str:
    """UTF-8 bytes to text; lone surrogates pass through; invalid bytes: `errors` (given)."""
    try:
        return data.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError as e:
        if errors == "strict":
            raise ValueError(f"the ids decode to invalid UTF-8 at byte offset {e.start} "
                             f"({data[e.start:e.end]!r}: {e.reason})") from None
        return data.decode("utf-8", errors)


class BPETokenizer:
    """Byte-level byte-pair encoding: 256 byte tokens, then one token per merge, then special tokens."""

    _CACHE_LIMIT = 200_000  # distinct words kept by the encoding cache

    def __init__(self, vocab_size: int, special_tokens: Sequence[str] = ()):
        self.special_tokens = _check_special_tokens(special_tokens)
        if not isinstance(vocab_size, int | np.integer) or isinstance(vocab_size, bool):
            raise TypeError(f"vocab_size must be an int, got {type(vocab_size).__name__}")
        if vocab_size < 256 + len(self.special_tokens):
            raise ValueError(f"vocab_size {vocab_size} is too small: the 256 bytes and "
                             f"{len(self.special_tokens)} special token(s) need at least "
                             f"{256 + len(self.special_tokens)}")
        self.target_vocab_size = int(vocab_size)
        self._special = _special_pattern(self.special_tokens)
        self._set_merges([])

    def _set_merges(self, merges: Sequence[tuple[int, int]]) -> None:
        """Install a list of merges: ranks, the bytes of every token, an empty cache (given)."""
        self.merges: list[tuple[int, int]] = [(int(a), int(b)) for a, b in merges]
        self._ranks = {pair: k for k, pair in enumerate(self.merges)}
        table = [bytes([b]) for b in range(256)]
        for a, b in self.merges:
            table.append(table[a] + table[b])
        self._token_bytes = table + [t.encode("utf-8", "surrogatepass") for t in self.special_tokens]
        self._cache: dict[str, list[int]] = {}

    @property
    def vocab_size(self) -> int:
        """256 + number of merges + number of special tokens (the ids in use)."""
        return len(self._token_bytes)

    def _pieces(self, text: str) -> Iterable[tuple[int, str, int | None]]:
        return _split_special(text, self._special, self.special_tokens)

    def train(self, text: str) -> "BPETokenizer":
        """Learn `vocab_size − 256 − len(special_tokens)` merges from `text` (given)."""
        _check_text(text, "BPETokenizer.train")
        words: Counter[str] = Counter()
        for _, piece, index in self._pieces(text):
            if index is None:
                words.update(pretokenize(piece))
        word_counts = {w.encode("utf-8", "surrogatepass"): n for w, n in words.items()}
        self._set_merges(learn_merges(word_counts, self.target_vocab_size - 256 - len(self.special_tokens)))
        return self

    def _encode_word(self, piece: bytes) -> list[int]:
        """The ids of one word: its bytes, with the learned merges applied in rank order."""
        ### BEGIN SOLUTION
        ids = list(piece)
        while len(ids) > 1:
            pair = min(zip(ids, ids[1:]), key=lambda p: self._ranks.get(p, len(self._ranks)))
            rank = self._ranks.get(pair)
            if rank is None:
                break
            ids = merge_pair(ids, pair, 256 + rank)
        return ids
        ### END SOLUTION

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`: special tokens as their ids, every word through the cache (given)."""
        _check_text(text, "BPETokenizer.encode")
        ids: list[int] = []
        first_special = 256 + len(self.merges)
        cache = self._cache
        for _, piece, index in self._pieces(text):
            if index is not None:
                ids.append(first_special + index)
                continue
            for word in pretokenize(piece):
                found = cache.get(word)
                if found is None:
                    if len(cache) >= self._CACHE_LIMIT:
                        cache.clear()
                    found = cache[word] = self._encode_word(word.encode("utf-8", "surrogatepass"))
                ids.extend(found)
        return ids

    def decode(self, ids, errors: str = "replace") -> str:
        """The text of `ids`: join the tokens' bytes, then decode UTF-8 once."""
        ids = _as_ids(ids, self.vocab_size, "BPETokenizer.decode")
        ### BEGIN SOLUTION
        data = b"".join(self._token_bytes[i] for i in ids)
        return _decode_utf8(data, errors)
        ### END SOLUTION

    def token_text(self, i: int) -> str:
        """The text of one token, for display (a partial character shows as '\ufffd')."""
        return self._token_bytes[_as_ids([i], self.vocab_size, "BPETokenizer.token_text")[0]].decode(
            "utf-8", "replace")

    def save(self, path) -> None:
        """Write the merges and special tokens as UTF-8 JSON (given)."""
        _write_json(path, {"type": "BPETokenizer", "version": 1, "vocab_size": self.target_vocab_size,
                           "special_tokens": list(self.special_tokens),
                           "merges": [list(pair) for pair in self.merges]})

    @classmethod
    def load(cls, path) -> "BPETokenizer":
        """Read a file written by `save` (given); every merge may only use ids that exist before it."""
        data = _read_json(path, "BPETokenizer")
        tok = cls(data.get("vocab_size", 256), data.get("special_tokens", []))
        merges = data.get("merges")
        if not isinstance(merges, list):
            raise ValueError(f"{path}: 'merges' must be a list of [a, b] pairs")
        room = tok.target_vocab_size - 256 - len(tok.special_tokens)
        if len(merges) > room:
            raise ValueError(f"{path}: {len(merges)} merges do not fit vocab_size {tok.target_vocab_size} "
                             f"(256 bytes + {len(tok.special_tokens)} special token(s) leave room for {room})")
        first: dict[tuple, int] = {}
        for k, pair in enumerate(merges):
            if (not isinstance(pair, list) or len(pair) != 2
                    or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 256 + k for v in pair)):
                raise ValueError(f"{path}: merge {k} is {pair!r}; expected two ids in 0..{255 + k}")
            if first.setdefault(tuple(pair), k) != k:  # a second id for the same pair could never be made
                raise ValueError(f"{path}: merge {k} repeats merge {first[tuple(pair)]} ({pair[0]}, {pair[1]})")
        tok._set_merges([tuple(pair) for pair in merges])
        return tok

    def __repr__(self) -> str:
        return (f"BPETokenizer(vocab_size={self.vocab_size}, merges={len(self.merges)}, "
                f"special_tokens={list(self.special_tokens)})")


# %% [markdown]
# ### Unit test: encoding and decoding
# Merges applied in rank order (the order matters), the round trip on English, accents, other
# scripts and emoji, special tokens as single ids, invalid byte sequences, and ids from a Tensor.

# %% nbgrader={"grade": true, "grade_id": "test-bpe-tokenizer", "locked": true, "points": 20, "schema_version": 3, "solution": false, "task": false}
def test_unit_bpe_tokenizer():
    from tinytorch.testing import raises
    tok = BPETokenizer(256 + 3)
    tok._set_merges([(98, 99), (97, 98), (97, 256)])  # 'bc' -> 256, 'ab' -> 257, 'a' + 'bc' -> 258
    assert tok._encode_word(b"abc") == [258], \
        f"'abc': rank 0 merges 'bc' first, then rank 2 'a'+'bc'; expected [258], got {tok._encode_word(b'abc')}"
    assert tok._encode_word(b"abab") == [257, 257], f"'abab' has no 'bc': expected [257, 257], got {tok._encode_word(b'abab')}"
    assert tok._encode_word(b"cabcab") == [99, 258, 257], \
        f"'cabcab': expected [99, 258, 257], got {tok._encode_word(b'cabcab')}"
    assert tok._encode_word(b"z") == [122] and tok._encode_word(b"") == [], "one byte (or none): no pair to merge"
    order = BPETokenizer(256 + 3)
    order._set_merges([(99, 100), (98, 99), (97, 257)])  # 'cd' -> 256, 'bc' -> 257, 'a' + 'bc' -> 258
    for word, want in [(b"abcd", [97, 98, 256]), (b"bcd", [98, 256]), (b"abc", [258])]:
        assert order._encode_word(word) == want, \
            (f"{word.decode()!r} with merges 'cd', 'bc', 'a'+'bc': expected {want}, got {order._encode_word(word)}. "
             f"Rank 0 'cd' comes first and takes the 'c'; the longest token or the leftmost pair is not the rule")
    assert tok.decode([258, 257, 32, 99]) == "abcab c", f"decode joins the tokens' bytes, got {tok.decode([258, 257, 32, 99])!r}"

    text = "the theme of the thesis: then the other thing, as they thought there, thirty three times. " * 4
    tok = BPETokenizer(256 + 21, special_tokens=["<|endoftext|>"]).train(text)
    assert tok.vocab_size == 277 and len(tok.merges) == 20, f"277 = 256 bytes + 20 merges + 1 special, got {tok!r}"
    ids = tok.encode(text)
    assert len(ids) < len(text.encode()) / 2, f"20 merges should at least halve this text: {len(ids)} ids for {len(text)} bytes"
    assert tok.decode(ids) == text, "decode(encode(text)) must give the text back"
    for s in ["thesis 🙂 and ж你 élan", "", " ", "👨‍👩‍👧!", "a\n\n  b\t", "\ud800 lone surrogate"]:
        assert tok.decode(tok.encode(s)) == s, f"round trip of {s!r} gave {tok.decode(tok.encode(s))!r}"
    assert tok.encode("🙂") == [240, 159, 153, 130], f"an unseen emoji is its 4 UTF-8 bytes, got {tok.encode('🙂')}"
    special = tok.encode("the<|endoftext|>the")
    assert special[len(special) // 2] == 276 and special.count(276) == 1, f"the special token is one id, 276: {special}"
    assert tok.decode(special) == "the<|endoftext|>the", "the special token decodes to its text"
    assert tok.decode(Tensor(np.array(tok.encode("the theme")))) == "the theme", "decode takes a Tensor of ids"
    assert tok.decode([240, 159, 153]) == "\ufffd", f"3 of the 4 bytes of an emoji: one replacement character, got {tok.decode([240, 159, 153])!r}"
    raises(ValueError, lambda: tok.decode([104, 240], errors="strict"), "offset 1")
    raises(ValueError, lambda: tok.decode([104, 277]), "277", "position 1")
    print("BPETokenizer: OK")


if __name__ == "__main__":
    test_unit_bpe_tokenizer()

# %% [markdown]
# ## 7. Vocabulary size against sequence length, measured
#
# Now the trade-off of section 1 on real text. The cell below loads Shakespeare (the corpus
# that ships with TinyTorch, `datasets/shakespeare.txt`), trains on its first 100 KB (a few
# seconds) and encodes the next 100 KB, text the tokenizer never saw, with the character
# tokenizer, raw bytes, and BPE at three vocabulary sizes. For each it prints the number of
# tokens, characters per token (the compression), the embedding table at `D = 128` (module 11)
# and how many characters a 256-token context covers.
#
# What to look for:
# - Characters and bytes give the same length here: the plays are plain ASCII (on French or
#   Russian text the bytes would be longer, on Chinese three times longer).
# - The first few hundred merges buy the most: common short words and word endings (`" the"`,
#   `" and"`, `"ing"`) become single tokens, and the sequence shrinks by about half. Each
#   further doubling of `V` buys less, while the embedding table and the output layer double.
# - The training-time figures: the naive trainer against yours, same merges, on the same
#   slice. The benchmark `benchmarks/bpe.py` trains a 1,024-token vocabulary on the whole
#   corpus and encodes it.
#
# GPT-2 chose 50,257 tokens for web text in many languages and trains models with 768 to 1,600
# dimensions; for a small model on one small corpus, a character or a small BPE vocabulary is
# the better deal: the embedding table stays small and every token is seen often enough to
# learn. Milestone M05 trains a character-level model.

# %% nbgrader={"grade": false, "grade_id": "corpus", "locked": false, "schema_version": 3, "solution": false, "task": false}
def load_corpus() -> str:
    """Shakespeare's plays, the text corpus that ships with TinyTorch (about 1 MB)."""
    from tinytorch.datasets import load_shakespeare
    return load_shakespeare()


# %% nbgrader={"grade": false, "grade_id": "compression-demo", "locked": false, "schema_version": 3, "solution": false, "task": false}
if __name__ == "__main__":
    import time

    corpus = load_corpus()
    train_text, held_out = corpus[:100_000], corpus[100_000:200_000]
    corpus_words = Counter(pretokenize(corpus))
    print(f"corpus: {len(corpus):,} characters, {sum(corpus_words.values()):,} words ({len(corpus_words):,} distinct); "
          f"training on {len(train_text):,}, encoding {len(held_out):,} unseen")
    rows = [("characters", CharTokenizer().train(corpus), None), ("bytes", BPETokenizer(256), None)]
    for size in (512, 1024, 2048):
        start = time.perf_counter()
        rows.append((f"BPE {size}", BPETokenizer(size).train(train_text), time.perf_counter() - start))
    print(f"{'tokenizer':12} {'V':>6} {'tokens':>9} {'chars/token':>12} {'embedding D=128':>16} "
          f"{'chars in 256 tokens':>20} {'train s':>8}")
    for name, tokenizer, seconds in rows:
        ids = tokenizer.encode(held_out)
        assert tokenizer.decode(ids) == held_out
        ratio = len(held_out) / len(ids)
        took = "" if seconds is None else f"{seconds:.2f}"
        print(f"{name:12} {tokenizer.vocab_size:>6,} {len(ids):>9,} {ratio:>12.2f} "
              f"{tokenizer.vocab_size * 128:>16,} {256 * ratio:>20,.0f} {took:>8}")
    bpe = rows[-2][1]
    print("the first merges:", [bpe.token_text(256 + k) for k in range(12)])
    print("longest tokens:", sorted((bpe.token_text(i) for i in range(256, bpe.vocab_size)), key=len)[-6:])

    words = Counter(w.encode("utf-8") for w in pretokenize(train_text[:20_000]))
    start = time.perf_counter()
    slow = learn_merges_naive(words, 100)
    naive_seconds = time.perf_counter() - start
    start = time.perf_counter()
    fast = learn_merges(words, 100)
    fast_seconds = time.perf_counter() - start
    print(f"100 merges on 20 KB ({len(words):,} distinct words): naive {naive_seconds:.2f} s, "
          f"incremental {fast_seconds:.3f} s ({naive_seconds / fast_seconds:.0f}x faster), same merges: {slow == fast}")

# %% [markdown]
# On the shipped corpus the cell prints these lengths (training times vary by machine; the
# token counts do not, since training is deterministic):
#
# | tokenizer | `V` | tokens for 100,000 unseen characters | characters per token | embedding table at `D = 128` |
# |---|---|---|---|---|
# | characters | 76 | 100,000 | 1.00 | 9,728 |
# | bytes | 256 | 100,000 | 1.00 | 32,768 |
# | BPE | 512 | 50,622 | 1.98 | 65,536 |
# | BPE | 1,024 | 41,328 | 2.42 | 131,072 |
# | BPE | 2,048 | 36,764 | 2.72 | 262,144 |
#
# The first 256 merges cut the sequence by 49 %, the next 512 by 18 % more, the next 1,024 by
# 11 %: diminishing returns, while the table doubles each time. The first merges are
# `' t'`, `'he'`, `' a'`, `'ou'`, `' s'`, … and `' the'` is the eleventh; the longest tokens learned
# from 100 KB of *Hamlet* are names such as `' Rosencrantz'` and `' Guildenstern'`. Trained on
# the whole corpus (`benchmarks/bpe.py`), 1,024 tokens give 2.41 characters per token.

# %% [markdown]
# ## Module test
# A BPE tokenizer trained on a slice of the corpus: the same merges as the naive trainer, a
# real compression, the round trip on text it never saw (with special tokens and emoji), and
# saving and loading both tokenizers.

# %% nbgrader={"grade": true, "grade_id": "test-module", "locked": true, "points": 15, "schema_version": 3, "solution": false, "task": false}
def test_module():
    import tempfile as _tempfile
    from tinytorch.testing import raises
    corpus = load_corpus()
    sample, unseen = corpus[:12_000], corpus[12_000:16_000]
    words = Counter(w.encode("utf-8") for w in pretokenize(sample))
    assert learn_merges(words, 60) == learn_merges_naive(words, 60), "60 merges on the corpus: incremental != naive"

    tok = BPETokenizer(384, special_tokens=["<|endoftext|>"]).train(sample)
    assert len(tok.merges) == 127 and tok.vocab_size == 384, f"384 = 256 bytes + 127 merges + 1 special, got {tok!r}"
    ids = tok.encode(unseen)
    assert tok.decode(ids) == unseen, "round trip on text the tokenizer never saw"
    assert len(ids) < 0.65 * len(unseen.encode("utf-8")), \
        f"127 merges should shorten unseen text to under 65% of its bytes: {len(ids)} ids for {len(unseen.encode())} bytes"
    text = unseen[:200] + "<|endoftext|>" + "Über 🙂 Ωμέγα"
    assert tok.decode(tok.encode(text)) == text and tok.encode(text).count(383) == 1, "special token and emoji round trip"

    chars = CharTokenizer(["<|endoftext|>"]).train(sample)
    with _tempfile.TemporaryDirectory() as folder:
        tok.save(f"{folder}/bpe.json")
        chars.save(f"{folder}/chars.json")
        again, chars_again = BPETokenizer.load(f"{folder}/bpe.json"), CharTokenizer.load(f"{folder}/chars.json")
        raises(ValueError, lambda: BPETokenizer.load(f"{folder}/chars.json"), "BPETokenizer")
    assert again.merges == tok.merges and again.encode(text) == tok.encode(text), "a loaded BPE tokenizer encodes the same"
    assert chars_again.itos == chars.itos and chars_again.encode(sample[:300]) == chars.encode(sample[:300]), \
        "a loaded CharTokenizer has the same vocabulary"
    print(f"module 10: all tests passed (127 merges: {len(unseen) / len(ids):.2f} characters per token on unseen text)")


if __name__ == "__main__":
    test_module()

# %% [markdown]
# ## Reflection
# - Your BPE tokenizer with 1,024 tokens and the character tokenizer with 76 (section 7): at `D = 128`,
#   how many parameters does each embedding table hold, and how many does the output layer add?
#   For a context of 256 tokens, how many characters of text does each one see?
# - A character tokenizer trained on Shakespeare meets `"naïve"`. What happens, and what would a
#   byte-level BPE tokenizer do with it?
# - Which words does your `learn_merges` visit for one merge, and which merges of a training run
#   are the expensive ones? What would a scan of every pair count per merge have cost instead?
# - Decoding joins all the bytes and decodes once. Construct a sequence of ids for which
#   decoding token by token and joining the strings gives a different result.
# - Pre-tokenization keeps the space at the front of the word. What would change in the learned
#   merges, and in the round trip, if it dropped the spaces instead?
