"""Module 10: CharTokenizer against the package: vocabulary, round trip, errors, saving."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinytorch.tensor import Tensor
from tinytorch.testing import raises
from tinytorch.tokenization import CharTokenizer

ALPHABET = "abcdefghij ,.!\n'éж你🙂"


def test_vocabulary_is_specials_then_sorted_characters():
    tok = CharTokenizer(["<bos>", "<eos>"]).train("cab<eos>ba<bos>c")
    assert tok.itos == ["<bos>", "<eos>", "a", "b", "c"]
    assert tok.stoi == {"<bos>": 0, "<eos>": 1, "a": 2, "b": 3, "c": 4}
    assert tok.vocab_size == 5
    assert CharTokenizer(["<eos>"]).vocab_size == 1, "before train, the vocabulary is the special tokens"


def test_training_is_deterministic_and_resets():
    a = CharTokenizer().train("zyx🙂 abc")
    b = CharTokenizer().train("cba 🙂xyz")
    assert a.itos == b.itos == sorted(set("zyx🙂 abc"))
    assert a.train("q").itos == ["q"]


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=ALPHABET, max_size=80))
def test_round_trip_on_its_alphabet(text):
    tok = CharTokenizer(["<|endoftext|>"]).train(ALPHABET)
    ids = tok.encode(text)
    assert len(ids) == len(text)
    assert all(0 < i < tok.vocab_size for i in ids)
    assert tok.decode(ids) == text
    assert tok.decode(np.array(ids)) == text
    assert tok.decode(Tensor(np.array(ids, dtype=np.float32))) == text


@settings(max_examples=80, deadline=None)
@given(st.lists(st.one_of(st.text(alphabet="ab<>", max_size=5), st.sampled_from(["<a>", "<a><b>"])),
                max_size=12))
def test_special_tokens_longest_first_and_round_trip(parts):
    tok = CharTokenizer(["<a>", "<a><b>"]).train("ab<>")
    text = "".join(parts)
    assert tok.decode(tok.encode(text)) == text
    assert tok.encode("<a><b>") == [1] and tok.encode("<a>b") == [0, 5]  # vocabulary: specials, < > a b
    assert tok.encode("x<a>"[1:]) == [0]


def test_unknown_character_names_it_and_its_position():
    tok = CharTokenizer(["<eos>"]).train("hello world")
    raises(ValueError, lambda: tok.encode("hello<eos> wörld"), "'ö'", "position 12")
    raises(ValueError, lambda: tok.encode("🙂"), "'🙂'", "position 0")
    raises(ValueError, lambda: CharTokenizer().encode("a"), "'a'", "position 0")


def test_bad_ids_are_refused_clearly():
    tok = CharTokenizer().train("abc")
    raises(ValueError, lambda: tok.decode([0, 3]), "id 3", "position 1", "0..2")
    raises(ValueError, lambda: tok.decode([-1]), "id -1", "position 0")
    raises(ValueError, lambda: tok.decode(np.zeros((2, 2), dtype=int)), "1-D", "(2, 2)")
    raises(TypeError, lambda: tok.decode([0.5, 1]), "whole numbers", "position 0")
    raises(TypeError, lambda: tok.decode(np.array([True, False])), "integer")
    raises(TypeError, lambda: tok.decode(["a"]), "integer")
    assert tok.decode(np.array([2, 0], dtype=np.int32)) == "ca"
    assert tok.decode([]) == ""


def test_bad_arguments():
    raises(TypeError, lambda: CharTokenizer("<eos>"), "sequence of strings")
    raises(ValueError, lambda: CharTokenizer(["<eos>", "<eos>"]), "distinct")
    raises(ValueError, lambda: CharTokenizer([""]), "non-empty")
    raises(TypeError, lambda: CharTokenizer().train(b"bytes"), "str", "bytes")
    raises(TypeError, lambda: CharTokenizer().train("a").encode(["a"]), "str", "list")


def test_save_and_load(tmp_path):
    tok = CharTokenizer(["<eos>"]).train("to be or not 🙂, été")
    path = tmp_path / "chars.json"
    tok.save(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["type"] == "CharTokenizer" and "🙂" in path.read_text(encoding="utf-8")
    again = CharTokenizer.load(path)
    assert again.itos == tok.itos and again.special_tokens == ("<eos>",)
    assert again.encode("été<eos>🙂") == tok.encode("été<eos>🙂")
    assert not [p for p in tmp_path.iterdir() if p.name != "chars.json"], "no temporary file left behind"


def test_load_errors(tmp_path):
    raises(FileNotFoundError, lambda: CharTokenizer.load(tmp_path / "missing.json"), "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    raises(ValueError, lambda: CharTokenizer.load(bad), "not a tokenizer file")
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"type": "BPETokenizer"}), encoding="utf-8")
    raises(ValueError, lambda: CharTokenizer.load(other), "'BPETokenizer'", "CharTokenizer")
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"type": "CharTokenizer", "chars": ["ab"]}), encoding="utf-8")
    raises(ValueError, lambda: CharTokenizer.load(broken), "single characters")


@pytest.mark.parametrize("text", ["", "a", "aaaa", "\n\n", "🙂🙂x"])
def test_small_texts(text):
    tok = CharTokenizer().train(text)
    assert tok.vocab_size == len(set(text))
    assert tok.decode(tok.encode(text)) == text
