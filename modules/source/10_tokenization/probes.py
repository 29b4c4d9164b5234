"""Grading probes for module 10 (Tokenization): the graded checks again, on inputs drawn at grading time.

tito calls each probe after the notebook's cells, with the notebook's namespace and a seeded NumPy
generator, and compares what it returns with the reference's values (tito/grading/probes.py).
Strings come back as arrays of code points; pair tables and merge lists as integer arrays.
"""

from collections import Counter

import numpy as np

LETTERS = list("abcdeXYZ é,ж🙂")


def _codes(text):
    """A string as its code points (exact, and readable in a diff)."""
    return np.array([ord(c) for c in text], dtype=np.int64)


def _ids(seq):
    return np.array([int(i) for i in seq], dtype=np.int64)


def _text(rng, alphabet, n):
    return "".join(rng.choice(alphabet, size=n).tolist())


def _raised(fn, error):
    """The message of the `error` that fn() raised, or None when it returned or raised another."""
    try:
        fn()
    except error as e:
        return str(e)
    except Exception:
        return None
    return None


def char_tokenizer(ns, rng):
    CharTokenizer, Tensor = ns["CharTokenizer"], ns["Tensor"]
    alphabet = list(rng.choice(LETTERS, size=int(rng.integers(4, 9)), replace=False))
    specials = ["<eos>", "<|pad|>"][:int(rng.integers(1, 3))]
    pieces = [_text(rng, alphabet, int(rng.integers(1, 8))) for _ in range(4)]
    train = "".join(rng.permutation(alphabet).tolist()) + pieces[0] + specials[-1] + pieces[1] + specials[0] + pieces[2]
    tok = CharTokenizer(specials).train(train)
    text = pieces[3] + specials[0] + _text(rng, alphabet, int(rng.integers(2, 9)))
    ids = tok.encode(text)
    random_ids = rng.integers(0, tok.vocab_size, size=int(rng.integers(3, 10)))
    unseen = "Q"  # in no alphabet above: encode names it and its position in the whole text
    where = int(rng.integers(len(text) - len(text.split(specials[0])[-1]), len(text) + 1))  # after a special
    message = _raised(lambda: tok.encode(text[:where] + unseen + text[where:]), ValueError)
    out = {"itos": _codes("\n".join(tok.itos)), "vocab_size": tok.vocab_size, "ids": _ids(ids),
           "round_trip": tok.decode(ids) == text, "decode_array": _codes(tok.decode(random_ids)),
           "decode_tensor": _codes(tok.decode(Tensor(random_ids[::-1].copy()))),
           "unknown_named": message is not None and repr(unseen) in message and f"position {where}" in message}
    plain = CharTokenizer().train(_text(rng, alphabet, 12))
    out["plain_itos"] = _codes("".join(plain.itos))
    return out


def bpe_blocks(ns, rng):
    count_pairs, merge_pair = ns["count_pairs"], ns["merge_pair"]
    n = int(rng.integers(3, 7))
    words = [rng.integers(0, 4, size=int(rng.integers(0, 9))).tolist() for _ in range(n)]
    counts = rng.integers(1, 10, size=n).tolist()
    table = sorted(count_pairs(words, counts).items())
    pairs = np.array([[a, b, c] for (a, b), c in table], dtype=np.int64).reshape(-1, 3)
    pair = tuple(rng.integers(0, 4, size=2).tolist())
    before = [list(w) for w in words]
    merged = [merge_pair(w, pair, 9) for w in words]
    return {"pairs": pairs, "merged": _ids([i for w in merged for i in w]),
            "lengths": _ids([len(w) for w in merged]), "inputs_kept": words == before}


def _word_counts(rng, n_words):
    word_counts = {}
    for _ in range(n_words):
        word = bytes(rng.choice(list(b"abc d"), size=int(rng.integers(1, 9))).tolist())
        word_counts[word] = word_counts.get(word, 0) + int(rng.integers(1, 6))
    return word_counts


def learn_merges(ns, rng):
    word_counts = _word_counts(rng, int(rng.integers(6, 14)))
    few = int(rng.integers(1, 6))
    out = {"few": np.array(ns["learn_merges"](word_counts, few), dtype=np.int64).reshape(-1, 2),
           "all": np.array(ns["learn_merges"](word_counts, 200), dtype=np.int64).reshape(-1, 2)}
    # the graded cell also counts how many words count_pairs receives: all of them at most once
    sizes, original = [], ns["count_pairs"]

    def counting(words, counts):
        words, counts = list(words), list(counts)
        sizes.append(len(words))
        return original(words, counts)

    ns["count_pairs"] = counting
    try:
        ns["learn_merges"](word_counts, 30)
    finally:
        ns["count_pairs"] = original
    out["no_recount"] = sum(size > len(word_counts) // 2 for size in sizes) <= 1
    return out


def _random_merges(rng, alphabet, n, merges):
    """`merges` grown to n distinct merges over `alphabet` (merge k uses only ids below 256 + k)."""
    merges = list(merges)
    while len(merges) < n:
        pool = list(alphabet) + list(range(256, 256 + len(merges)))
        pair = (int(rng.choice(pool)), int(rng.choice(pool)))
        if pair not in merges:
            merges.append(pair)
    return merges


def bpe_tokenizer(ns, rng):
    BPETokenizer, Tensor = ns["BPETokenizer"], ns["Tensor"]
    alphabet = list(b"abc ")
    n = int(rng.integers(8, 20))
    tok = BPETokenizer(256 + n + 1, special_tokens=["<|endoftext|>"])
    x, y, z = rng.choice(alphabet, size=3, replace=False).tolist()
    tok._set_merges(_random_merges(rng, alphabet, n, [(y, z), (x, y)]))  # 'xyz': rank order, not leftmost
    words = [bytes(rng.choice(alphabet, size=int(rng.integers(0, 12))).tolist()) for _ in range(16)]
    words += [bytes([x, y, z, *rng.choice(alphabet, size=3).tolist()])]
    encoded = [tok._encode_word(w) for w in words]
    text = " ".join(_text(rng, list("abc"), int(rng.integers(1, 7))) for _ in range(8))
    text += "<|endoftext|>é🙂" + _text(rng, list("abc é"), 6)
    ids = tok.encode(text)
    random_ids = rng.integers(0, tok.vocab_size, size=int(rng.integers(4, 12)))  # may be broken UTF-8
    strict = [int(rng.integers(0x80, 0xC0)), int(rng.integers(0, 256))]  # a continuation byte first: invalid
    return {"words": _ids([i for e in encoded for i in e]), "lengths": _ids([len(e) for e in encoded]),
            "ids": _ids(ids), "round_trip": tok.decode(ids) == text,
            "decode": _codes(tok.decode(random_ids)), "decode_tensor": _codes(tok.decode(Tensor(random_ids))),
            "strict_raises": _raised(lambda: tok.decode([104, *strict], errors="strict"),
                                     ValueError) is not None}


def module(ns, rng):
    import tempfile

    from tinytorch.datasets import load_shakespeare

    BPETokenizer, CharTokenizer = ns["BPETokenizer"], ns["CharTokenizer"]
    corpus = load_shakespeare()
    start = int(rng.integers(0, len(corpus) - 12_000))
    sample, unseen = corpus[start:start + 6_000], corpus[start + 6_000:start + 8_000]
    size = 256 + 1 + int(rng.integers(30, 90))
    tok = BPETokenizer(size, special_tokens=["<|endoftext|>"]).train(sample)
    text = unseen[:300] + "<|endoftext|>" + "Über 🙂 Ωμέγα"
    chars = CharTokenizer(["<|endoftext|>"]).train(sample)
    with tempfile.TemporaryDirectory() as folder:
        tok.save(f"{folder}/bpe.json")
        chars.save(f"{folder}/chars.json")
        again, chars_again = BPETokenizer.load(f"{folder}/bpe.json"), CharTokenizer.load(f"{folder}/chars.json")
    words = Counter(w.encode("utf-8") for w in ns["pretokenize"](sample[:3_000]))
    return {"merges": np.array(tok.merges, dtype=np.int64).reshape(-1, 2), "ids": _ids(tok.encode(unseen)),
            "round_trip": tok.decode(tok.encode(unseen)) == unseen, "special": _ids(tok.encode(text)),
            "special_round_trip": tok.decode(tok.encode(text)) == text,
            "loaded_ids": _ids(again.encode(text)), "chars_loaded": _ids(chars_again.encode(sample[:300])),
            "merges_small": np.array(ns["learn_merges"](words, 40), dtype=np.int64).reshape(-1, 2)}


PROBES = {
    "test-char-tokenizer": ["char_tokenizer"],
    "test-bpe-blocks": ["bpe_blocks"],
    "test-learn-merges": ["learn_merges"],
    "test-bpe-tokenizer": ["bpe_tokenizer"],
    "test-module": ["module"],
}
