"""Byte-level BPE (module 10): train a 1,024-token vocabulary on the Shakespeare corpus, encode it.

    python benchmarks/bpe.py                  # full corpus (~1 MB), vocab 1,024: a few seconds
    python benchmarks/bpe.py --vocab 4096     # a bigger vocabulary
    python benchmarks/bpe.py --data FILE      # any UTF-8 text file
    python benchmarks/bpe.py --quick          # 50 KB, vocab 300: only checks that it runs
    python benchmarks/bpe.py --json out.json  # also save every measured number

Prints, all measured in this run: training time (pre-tokenizing and counting the distinct words
included), encoding time of the whole text with an empty word cache and again with a full one,
decoding time, the number of tokens and the compression (characters and bytes per token), and
the incremental trainer against the naive one (recount every pair per merge) on a slice, with a
check that both learn the same merges. Pure Python and NumPy; no PyTorch involved.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tinytorch.datasets import load_shakespeare, read_text  # noqa: E402
from tinytorch.tokenization import (  # noqa: E402
    BPETokenizer,
    learn_merges,
    learn_merges_naive,
    pretokenize,
)


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="a UTF-8 text file (default: datasets/shakespeare.txt)")
    parser.add_argument("--vocab", type=int, default=1024, help="vocabulary size to train (default 1024)")
    parser.add_argument("--quick", action="store_true", help="50 KB of text, vocabulary 300")
    parser.add_argument("--json", type=Path, help="write the measured numbers to this file")
    args = parser.parse_args(argv)

    text = read_text(args.data) if args.data else load_shakespeare()
    vocab = args.vocab
    naive_chars, naive_merges = 100_000, 100
    if args.quick:
        text, vocab, naive_chars, naive_merges = text[:50_000], 300, 10_000, 20
    raw_bytes = len(text.encode("utf-8"))
    pieces, split_s = timed(lambda: Counter(pretokenize(text)))
    print(f"text: {len(text):,} characters, {raw_bytes:,} bytes, {sum(pieces.values()):,} words "
          f"({len(pieces):,} distinct; pre-tokenizing and counting took {split_s:.2f} s)")
    print(f"Python {platform.python_version()} on {platform.machine()}")

    tok, train_s = timed(lambda: BPETokenizer(vocab).train(text))
    print(f"train: vocabulary {tok.vocab_size:,} ({len(tok.merges):,} merges) in {train_s:.2f} s")

    cold = BPETokenizer(vocab)
    cold._set_merges(tok.merges)  # same merges, empty word cache
    ids, encode_cold_s = timed(lambda: cold.encode(text))
    again, encode_warm_s = timed(lambda: cold.encode(text))
    decoded, decode_s = timed(lambda: cold.decode(ids))
    if decoded != text or again != ids:
        print("error: decode(encode(text)) differs from the text", file=sys.stderr)
        return 1
    print(f"encode: {len(ids):,} tokens in {encode_cold_s:.2f} s (empty cache; "
          f"{len(ids) / encode_cold_s:,.0f} tokens/s), {encode_warm_s:.2f} s with the cache full; "
          f"decode {decode_s:.3f} s; round trip exact")
    print(f"compression: {len(text) / len(ids):.2f} characters per token, {raw_bytes / len(ids):.2f} bytes "
          f"per token ({len(ids) / raw_bytes:.1%} of the byte-level length)")

    slice_counts = Counter(w.encode("utf-8") for w in pretokenize(text[:naive_chars]))
    slow, naive_s = timed(lambda: learn_merges_naive(slice_counts, naive_merges))
    fast, fast_s = timed(lambda: learn_merges(slice_counts, naive_merges))
    if slow != fast:
        print("error: incremental and naive training learned different merges", file=sys.stderr)
        return 1
    print(f"naive vs incremental, {naive_merges} merges on {naive_chars:,} characters: "
          f"naive {naive_s:.2f} s, incremental {fast_s:.3f} s ({naive_s / fast_s:.0f}x), same merges")

    if args.json:
        args.json.write_text(json.dumps({
            "characters": len(text), "bytes": raw_bytes, "distinct_words": len(pieces),
            "vocab_size": tok.vocab_size, "merges": len(tok.merges), "train_s": train_s,
            "tokens": len(ids), "encode_cold_s": encode_cold_s, "encode_warm_s": encode_warm_s,
            "decode_s": decode_s, "chars_per_token": len(text) / len(ids),
            "naive": {"characters": naive_chars, "merges": naive_merges, "naive_s": naive_s,
                      "incremental_s": fast_s},
        }, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
