"""Module 10: BPE against the package: merges equal a naive reference, the round trip holds for
every string, special tokens, errors and saving."""

import json
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinytorch.tokenization as tokenization
from tinytorch.tensor import Tensor
from tinytorch.testing import raises
from tinytorch.tokenization import (
    BPETokenizer,
    CharTokenizer,
    count_pairs,
    learn_merges,
    learn_merges_naive,
    merge_pair,
    pretokenize,
)

EMOJI = ["🙂", "👨‍👩‍👧", "🇫🇷", "👍🏽", "❤️"]
PIECE = st.one_of(st.characters(), st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
                  st.sampled_from(EMOJI), st.sampled_from(list("ab \n")))  # emoji: several code points
ANY_TEXT = st.lists(PIECE, max_size=50).map("".join)
SHORT_TEXT = st.lists(PIECE, max_size=20).map("".join)
SMALL_TEXT = st.text(alphabet=st.sampled_from(list("aab ba,.\n") + ["é", "🙂"]), max_size=60)


def word_counts(text):
    return Counter(piece.encode("utf-8", "surrogatepass") for piece in pretokenize(text))


# --- pre-tokenization ---------------------------------------------------------------------------

def test_pretokenize_examples():
    assert pretokenize("To be, or not") == ["To", " be", ",", " or", " not"]
    assert pretokenize("a  b\n\nc ") == ["a", " ", " b", "\n\n", "c", " "]
    assert pretokenize("it's 42!") == ["it", "'", "s", " 42", "!"]


@settings(max_examples=300, deadline=None)
@given(ANY_TEXT)
def test_pretokenize_pieces_concatenate_to_the_text(text):
    pieces = pretokenize(text)
    assert "".join(pieces) == text
    assert all(pieces)


# --- building blocks ------------------------------------------------------------------------------

@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 3), max_size=12), st.tuples(st.integers(0, 3), st.integers(0, 3)))
def test_merge_pair_matches_the_reference(ref, word, pair):
    before = list(word)
    got = merge_pair(word, pair, 9)
    assert word == before, f"merge_pair changed its input: {before} became {word}"
    assert got == ref.replace_pair(word, pair, 9), \
        f"merge_pair({word}, {pair}, 9) = {got}, expected {ref.replace_pair(word, pair, 9)} " \
        f"(left to right; a merged pair is skipped whole, so [7, 7, 7] gives [9, 7])"


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.lists(st.integers(0, 3), max_size=8), st.integers(1, 5)), max_size=6))
def test_count_pairs_matches_a_direct_count(items):
    words, counts = [w for w, _ in items], [n for _, n in items]
    expected = Counter()
    for w, n in items:
        for i in range(len(w) - 1):
            expected[(w[i], w[i + 1])] += n
    got = count_pairs(words, counts)
    wrong = {p: (got.get(p), expected.get(p)) for p in set(got) | set(expected)
             if got.get(p) != expected.get(p)}
    assert not wrong, f"count_pairs({words}, {counts}): pair: (got, expected) {wrong}; every occurrence " \
                      f"in a word counts, weighted by the word's count"


# --- training --------------------------------------------------------------------------------------

def test_worked_example_and_tie_rule(ref):
    example = {b" hug": 5, b" pug": 2, b" hugs": 1}
    got = learn_merges(example, 2)
    assert got == [(117, 103), (32, 104)], \
        f"worked example: 'ug' first, then the tie at count 6 goes to the smaller pair (32, 104); got {got}"
    everything = learn_merges(example, 100)
    assert everything == ref.naive_merges(example, 100), \
        f"the worked example to the end: " \
        f"{ref.explain_merges(example, everything, ref.naive_merges(example, 100))}"
    assert learn_merges_naive(example, 100) == ref.naive_merges(example, 100)


@settings(max_examples=150, deadline=None)
@given(SMALL_TEXT, st.integers(0, 40))
def test_incremental_merges_equal_the_naive_reference(ref, text, num_merges):
    counts = word_counts(text)
    expected = ref.naive_merges(counts, num_merges)
    got = learn_merges(counts, num_merges)
    assert got == expected, f"{num_merges} merges on {text!r}: {ref.explain_merges(counts, got, expected)}"
    assert learn_merges_naive(counts, num_merges) == expected


@settings(max_examples=60, deadline=None)
@given(SHORT_TEXT, st.integers(0, 30))
def test_incremental_merges_equal_the_naive_reference_on_any_text(ref, text, num_merges):
    counts = word_counts(text)
    got, expected = learn_merges(counts, num_merges), ref.naive_merges(counts, num_merges)
    assert got == expected, f"{num_merges} merges on {text!r}: {ref.explain_merges(counts, got, expected)}"


def test_merges_on_real_text_equal_the_naive_reference(shakespeare, ref):
    counts = word_counts(shakespeare[:6_000])
    got, expected = learn_merges(counts, 120), ref.naive_merges(counts, 120)
    assert got == expected, \
        f"120 merges on 6,000 characters of Shakespeare: {ref.explain_merges(counts, got, expected)}"


def test_word_order_does_not_matter(shakespeare):
    counts = word_counts(shakespeare[:5_000])
    reversed_counts = dict(reversed(list(counts.items())))
    assert learn_merges(counts, 80) == learn_merges(reversed_counts, 80)


def test_training_counts_pairs_once(monkeypatch, shakespeare):
    """All the words go through count_pairs once; later calls may only see the visited words."""
    sizes = []
    original = tokenization.count_pairs

    def counting(words, counts):
        words, counts = list(words), list(counts)
        sizes.append(len(words))
        return original(words, counts)
    monkeypatch.setattr(tokenization, "count_pairs", counting)
    counts = word_counts(shakespeare[:5_000])
    merges = learn_merges(counts, 100)
    recounts = sum(size > len(counts) // 2 for size in sizes)
    assert recounts <= 1, (f"learn_merges passed (at least half of) all {len(counts)} words to count_pairs "
                           f"{recounts} times for 100 merges: count once at the start, then only the "
                           f"visited words")
    assert len(merges) == 100, f"100 merges asked, got {len(merges)}"


def test_runs_out_of_pairs():
    tok = BPETokenizer(1_000).train("ab ab ab")
    assert tok.merges == [(97, 98), (32, 256)] and tok.vocab_size == 258
    assert BPETokenizer(300).train("").merges == [] and BPETokenizer(300).train("x\ny\tz").merges == []


def test_special_tokens_are_not_merged_into_words():
    tok = BPETokenizer(400, special_tokens=["<|endoftext|>"]).train("<|endoftext|>" * 50 + "ab ab")
    learned = [tok.decode([256 + k]) for k in range(len(tok.merges))]
    assert not any("<" in t or "|" in t for t in learned), learned


# --- encoding and decoding -------------------------------------------------------------------------

def test_ids_layout(trained):
    assert trained.vocab_size == 658 and len(trained.merges) == 400
    assert trained.encode("<|endoftext|><|pad|>") == [656, 657]
    assert trained.decode([104, 105]) == "hi"


@settings(max_examples=300, deadline=None)
@given(ANY_TEXT)
def test_round_trip_on_any_string(trained, text):
    ids = trained.encode(text)
    assert all(isinstance(i, int) and 0 <= i < trained.vocab_size for i in ids)
    back = trained.decode(ids)
    assert back == text, f"decode(encode({text!r})) gave {back!r} (ids {ids[:12]})"


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.lists(PIECE, max_size=8).map("".join),
                          st.sampled_from(["<|endoftext|>", "<|pad|>", "<|", "|>"])), max_size=8))
def test_round_trip_with_special_tokens(trained, parts):
    text = "".join(parts)
    ids = trained.encode(text)
    assert trained.decode(ids) == text
    assert ids.count(656) == text.count("<|endoftext|>")


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("theanos ,.\n")), max_size=60))
def test_encoding_equals_training_order(trained, ref, text):
    for word in pretokenize(text):
        raw = word.encode("utf-8")
        got, want = trained._encode_word(raw), ref.apply_merges(trained.merges, raw)
        assert got == want, \
            f"_encode_word({raw!r}) = {got}, but the merges applied in training order give {want}"


def test_encode_is_cached_and_stable(trained, shakespeare):
    text = shakespeare[60_000:70_000]
    first = trained.encode(text)
    assert trained.encode(text) == first
    fresh = BPETokenizer(658, special_tokens=["<|endoftext|>", "<|pad|>"])
    fresh._set_merges(trained.merges)
    assert fresh.encode(text) == first


def test_decode_of_partial_characters():
    tok = BPETokenizer(256)
    assert tok.decode([240, 159, 153]) == "\ufffd"
    assert tok.decode([104, 240, 159, 153, 130]) == "h🙂"
    raises(ValueError, lambda: tok.decode([104, 105, 255], errors="strict"), "offset 2")
    assert tok.decode(Tensor(np.array([104.0, 105.0]))) == "hi"
    raises(ValueError, lambda: tok.decode([256]), "id 256", "position 0", "0..255")
    raises(TypeError, lambda: tok.decode([1.5]), "whole numbers")
    assert tok.token_text(104) == "h"


def test_bad_arguments():
    raises(ValueError, lambda: BPETokenizer(255), "too small", "256")
    raises(ValueError, lambda: BPETokenizer(257, special_tokens=["<a>", "<b>"]), "at least 258")
    raises(TypeError, lambda: BPETokenizer(300.0), "int")
    raises(TypeError, lambda: BPETokenizer(300).train(None), "str")
    raises(TypeError, lambda: BPETokenizer(300).encode(b"x"), "str")


def test_save_and_load(tmp_path, trained):
    path = tmp_path / "bpe.json"
    trained.save(path)
    again = BPETokenizer.load(path)
    assert again.merges == trained.merges and again.special_tokens == trained.special_tokens
    assert again.vocab_size == trained.vocab_size
    text = "Wherefore art thou 🙂<|endoftext|>"
    assert again.encode(text) == trained.encode(text)
    assert [p.name for p in tmp_path.iterdir()] == ["bpe.json"]


@pytest.mark.parametrize("merges, message", [([[256, 1]], "merge 0"), ([[1, 2], [1, 258]], "merge 1"),
                                             ([[1]], "merge 0"), ("nope", "list"), ([[1, True]], "merge 0"),
                                             ([[1, 2], [3, 4], [1, 2]], "merge 2 repeats merge 0 (1, 2)"),
                                             ([[i, i + 1] for i in range(50)],
                                              "50 merges do not fit vocab_size 300"),
                                             ])
def test_load_refuses_impossible_merges(tmp_path, merges, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"type": "BPETokenizer", "vocab_size": 300, "special_tokens": ["<|a|>"],
                                "merges": merges}), encoding="utf-8")
    raises(ValueError, lambda: BPETokenizer.load(path), message)


def test_saving_into_a_missing_folder_names_the_folder(tmp_path, trained):
    target = tmp_path / "no_such_folder" / "bpe.json"
    raises(FileNotFoundError, lambda: trained.save(target), "no_such_folder does not exist")
    chars = CharTokenizer().train("ab")
    raises(FileNotFoundError, lambda: chars.save(target), "no_such_folder does not exist")


def test_compression_grows_with_the_vocabulary(shakespeare):
    train, unseen = shakespeare[:30_000], shakespeare[30_000:40_000]
    lengths = [len(BPETokenizer(v).train(train).encode(unseen)) for v in (256, 300, 400, 600)]
    assert lengths[0] == len(unseen.encode("utf-8"))
    assert lengths == sorted(lengths, reverse=True) and lengths[-1] < 0.6 * lengths[0], lengths
    seen = [len(BPETokenizer(v).train(train).encode(train)) for v in (300, 301, 400)]
    assert seen[0] > seen[1] > seen[2], "on the training text every merge saves at least one token"


def test_the_numbers_quoted_in_the_prose(shakespeare):
    """Sections 1, 4 and 7 quote these counts of the shipped corpus: a run must give the same."""
    words = Counter(pretokenize(shakespeare))
    sizes = (len(shakespeare), sum(words.values()), len(words), sum(len(w.encode("utf-8")) for w in words))
    assert sizes == (1_035_997, 280_287, 15_644, 112_050), \
        f"corpus characters, words, distinct words, their bytes: the prose says " \
        f"(1035997, 280287, 15644, 112050), got {sizes}"
    vocab = CharTokenizer().train(shakespeare).vocab_size
    assert vocab == 76, f"the prose says the corpus has 76 distinct characters, got {vocab}"
    train, held_out = shakespeare[:100_000], shakespeare[100_000:200_000]
    tok = BPETokenizer(512).train(train)
    tokens = len(tok.encode(held_out))
    assert tokens == 50_622, \
        f"section 7: BPE 512 gives 50,622 tokens for the 100,000 unseen characters, got {tokens}"
    first = [tok.token_text(256 + k) for k in range(11)]
    assert first[:5] == [" t", "he", " a", "ou", " s"] and first[10] == " the", \
        f"section 7: the first merges are ' t', 'he', ' a', 'ou', ' s', ... and ' the' is the eleventh, " \
        f"got {first}"
