"""M06 (2018), part 2: a KV cache makes the char-GPT generate the same tokens faster.

Without a cache, a GPT that generates token t runs the whole context (prompt + t tokens) through
every block again, although the keys and values of the earlier positions have not changed. Module
17's KV cache keeps them, so each new token costs one position. This script trains a small
character-level GPT on Shakespeare (M05's recipe, context 128), then generates from a prompt with
`GPT.generate` (no cache) and module 17's `generate_cached`, and checks, in this run:
the tokens are identical (greedy and sampled), the cached run does less arithmetic (FLOPs counted
by module 14's op tracer over the whole generation), and it is faster: the wall time of each
cached generation against an uncached one run right beside it (interleaved, one BLAS thread),
speed-up = median of those ratios, which must be above 1.
"""

import math
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import numpy as np  # noqa: E402
from _common import (  # noqa: E402
    EXIT_NOT_RUN,
    TRAINING_CACHE,
    Clock,
    at_least,
    finish,
    import_script,
    nonempty_text,
    parser,
    seed_all,
    train_or_reuse,
)

from tinytorch.autograd import no_grad  # noqa: E402
from tinytorch.datasets import DatasetFormatError  # noqa: E402
from tinytorch.memoization import generate_cached, make_caches  # noqa: E402
from tinytorch.profiling import OpTracer  # noqa: E402
from tinytorch.tokenization import CharTokenizer  # noqa: E402

m05 = import_script("05_2017_transformer/01_vaswani_generation.py")  # data, model, training, held-out loss

# M05's model (2 layers, 4 heads, dim 64) with a context of 128, so that a generation can be long
# enough for the cache to matter; windows of 128 in batches of 8 (the same characters per step as
# M05's 16 x 64).
CONFIG = m05.Config(layers=2, heads=4, dim=64, context=128, batch=8, iters=600, lr=3e-3, warmup=60)
PROMPT = "To be, or not to be"
TEMPERATURE = 0.8


def generation_flops(model, fn) -> tuple[int, int]:
    """(FLOPs, ops) of everything `fn()` runs through `model`'s layers, counted by module 14's
    OpTracer from each op's recorded shapes (a ValueError names an op with no FLOP rule)."""
    with no_grad(), OpTracer(model) as tracer:
        fn()
    missing = sorted({r.op for r in tracer.records if r.flops is None})
    if missing:
        raise ValueError(f"no FLOP rule for op(s) {missing}; register them in tinytorch.profiling")
    return sum(r.flops for r in tracer.records), len(tracer.records)


def interleaved(uncached, cached, rounds: int) -> tuple[np.ndarray, np.ndarray]:
    """Wall seconds of `uncached(r)` and `cached(r)` for r = 1 .. rounds, each cached run right
    after its uncached partner (same argument), after one untimed warm-up of each (r = 0)."""
    uncached(0), cached(0)
    times = np.empty((rounds, 2))
    for r in range(rounds):
        for j, fn in enumerate((uncached, cached)):
            with Clock() as clock:
                fn(r + 1)
            times[r, j] = clock.seconds
    return times[:, 0], times[:, 1]


def run(args) -> tuple[dict[str, str], list[tuple[str, bool]]]:
    cfg = replace(CONFIG, iters=args.iters, warmup=min(CONFIG.warmup, max(1, args.iters // 10)))
    rng = seed_all(args.seed)
    try:
        text, source = m05.load_text(args.data)
        m05.check_length(len(text), cfg.context)
    except (FileNotFoundError, DatasetFormatError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(EXIT_NOT_RUN)
    tokenizer = CharTokenizer().train(text)
    try:
        prompt = np.array(tokenizer.encode(args.prompt), dtype=np.int64)
    except ValueError as exc:
        print(f"error: the prompt cannot be encoded with the vocabulary of {source}: {exc}", file=sys.stderr)
        sys.exit(EXIT_NOT_RUN)
    room = cfg.context - len(prompt)
    if room < 2:
        print(f"error: the prompt has {len(prompt)} characters; it must be shorter than {cfg.context - 1} "
              f"(the context) to leave room for at least 2 new tokens", file=sys.stderr)
        sys.exit(EXIT_NOT_RUN)
    tokens = room if args.tokens is None else args.tokens
    if tokens > room:
        print(f"error: --tokens {tokens} does not fit: prompt ({len(prompt)}) + tokens must stay within the "
              f"context of {cfg.context}, i.e. --tokens <= {room} (past it the cache is refilled every step)",
              file=sys.stderr)
        sys.exit(EXIT_NOT_RUN)
    ids = np.array(tokenizer.encode(text), dtype=np.int64)
    n_train = m05.split_point(len(ids))
    print(f"data: {source}: {len(text):,} characters, vocabulary of {tokenizer.vocab_size}; "
          f"train = first {n_train:,}")

    # 1. a small char-GPT (generation is what is measured; training only makes the text readable)
    model = m05.build(tokenizer.vocab_size, cfg)
    n_params = sum(p.size for p in model.parameters())
    print(f"\n1. GPT: {cfg.layers} layers, {cfg.heads} heads, dim {cfg.dim}, context {cfg.context}: "
          f"{n_params:,} parameters; training {cfg.iters} iterations of {cfg.batch} windows of {cfg.context}")
    settings = {"script": "M06 generation", "config": asdict(cfg), "seed": args.seed,
                "data": m05.text_sha256(text)}
    cpu = time.process_time()
    with Clock() as train_clock:
        _, reused = train_or_reuse(model, settings, rng, lambda: m05.train(model, ids[:n_train], cfg, rng))
    train_cpu = time.process_time() - cpu
    if reused:
        print(f"   not trained again: {TRAINING_CACHE} holds this model, trained earlier by the same code "
              f"on the same data, configuration and seed (fingerprint {reused[:12]})")
    probe = m05.eval_windows(n_train, len(ids), cfg.context, 64)
    loss = m05.heldout_loss(model, ids, probe, cfg.context)
    print(f"   held-out estimate (64 windows): {loss:.3f} nats/char (uniform: ln {tokenizer.vocab_size} = "
          f"{math.log(tokenizer.vocab_size):.3f})")

    # 2. the same tokens, with and without the cache
    def both(temperature: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
        return (model.generate(prompt, tokens, temperature=temperature, seed=seed),
                generate_cached(model, prompt, tokens, temperature=temperature, seed=seed))

    greedy, sampled = both(0.0, args.seed), both(TEMPERATURE, args.seed)
    same_greedy, same_sampled = (bool(np.array_equal(a, b)) for a, b in (greedy, sampled))
    print(f"\n2. {tokens} new tokens after a prompt of {len(prompt)} "
          f"(prompt + tokens = {len(prompt) + tokens} <= context {cfg.context}):")
    print(f"   greedy (temperature 0): identical with and without the cache: {same_greedy}")
    print(f"   sampled (temperature {TEMPERATURE}, seed {args.seed}): identical: {same_sampled}")
    print(f"--- sampled, with the cache ---\n{tokenizer.decode(sampled[1])}\n---")

    # 3. the work: FLOPs of the whole generation, counted op by op
    flops_u, ops_u = generation_flops(model, lambda: model.generate(prompt, tokens, temperature=0.0))
    flops_c, ops_c = generation_flops(model, lambda: generate_cached(model, prompt, tokens, temperature=0.0))
    positions_u = sum(len(prompt) + t for t in range(tokens))
    positions_c = len(prompt) + tokens - 1
    cache_bytes = sum(c.nbytes for c in make_caches(model, 1))
    print(f"\n3. work (op tracer, greedy generation of {tokens} tokens):")
    print(f"   no cache: {positions_u:,} positions through the blocks, {flops_u / 1e6:,.1f} MFLOP "
          f"in {ops_u:,} ops")
    print(f"   cache:    {positions_c:,} positions, {flops_c / 1e6:,.1f} MFLOP in {ops_c:,} ops "
          f"({flops_u / flops_c:.1f}x less arithmetic); the caches hold {cache_bytes:,} bytes "
          f"({cfg.layers} layers x keys and values x {cfg.context} positions x {cfg.dim} x 4 bytes)")

    # 4. the time: interleaved pairs, one BLAS thread (pinned by _common for the whole run)
    uncached_s, cached_s = interleaved(
        lambda r: model.generate(prompt, tokens, temperature=TEMPERATURE, seed=r),
        lambda r: generate_cached(model, prompt, tokens, temperature=TEMPERATURE, seed=r), args.rounds)
    ratios = uncached_s / cached_s
    speedup = float(np.median(ratios))
    print(f"\n4. time ({args.rounds} interleaved pairs of generations of {tokens} tokens, one BLAS thread):")
    for name, seconds in (("no cache:", uncached_s), ("cache:   ", cached_s)):
        print(f"   {name} median {np.median(seconds) * 1e3:,.1f} ms "
              f"({tokens / np.median(seconds):,.0f} tokens/s)")
    print(f"   speed-up per pair: {', '.join(f'{x:.2f}' for x in ratios)}; median {speedup:.2f}x")
    print(f"   {flops_u / flops_c:.0f}x less arithmetic gives {speedup:.1f}x less time: both runs execute "
          f"about the same number of ops ({ops_u:,} and {ops_c:,}), and with one position per op the cached "
          f"run's time is mostly the fixed cost of each op, not its arithmetic")

    measured = {
        "model": f"GPT {n_params:,} parameters (context {cfg.context}), held-out estimate {loss:.3f} "
                 f"nats/char",
        "work, greedy": f"{flops_u / 1e6:,.1f} MFLOP without cache, {flops_c / 1e6:,.1f} with "
                        f"({flops_u / flops_c:.1f}x less)",
        "time, sampled": f"{np.median(uncached_s) * 1e3:,.1f} ms without cache, "
                         f"{np.median(cached_s) * 1e3:,.1f} ms with (median of {args.rounds} "
                         f"interleaved pairs)",
        "speed-up": f"{speedup:.2f}x (per pair: min {ratios.min():.2f}, max {ratios.max():.2f})",
        "time of the run (not judged)": (f"training {train_clock.seconds:.1f} s wall, {train_cpu:.1f} s CPU"
                                         if not reused else f"training reused from {TRAINING_CACHE}")
                                        + f"; whole script so far {time.process_time():.1f} s CPU",
    }
    checks = [
        ("greedy generation gives the same tokens with and without the cache", same_greedy),
        (f"sampled generation (temperature {TEMPERATURE}, same seed) gives the same tokens", same_sampled),
        ("the cached generation does less arithmetic (FLOPs counted by the op tracer)", flops_c < flops_u),
        (f"the cached generation is faster than the uncached one (measured speed-up {speedup:.2f}x > 1)",
         speedup > 1.0),
    ]
    return measured, checks


if __name__ == "__main__":
    p = parser(__doc__, plot=False)
    p.add_argument("--data", metavar="PATH", default=None,
                   help="a UTF-8 text file to train on (default: datasets/shakespeare.txt)")
    p.add_argument("--iters", type=at_least(1), default=CONFIG.iters,
                   help=f"training iterations (default {CONFIG.iters})")
    p.add_argument("--prompt", type=nonempty_text, default=PROMPT, help=f"the prompt (default {PROMPT!r})")
    p.add_argument("--tokens", type=at_least(1), default=None, metavar="N",
                   help="new tokens per generation (default: fill the context)")
    p.add_argument("--rounds", type=at_least(1), default=5, metavar="N",
                   help="interleaved pairs of timed generations (default 5)")
    args = p.parse_args()
    measured, checks = run(args)
    finish("M06 part 2: the KV cache generates the same tokens faster", measured, checks)
