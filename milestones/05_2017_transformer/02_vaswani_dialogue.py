"""M05 (2017), part 2: talk to your GPT: text generated from a prompt, from the saved checkpoint.

Loads the character-level GPT that 01_vaswani_generation.py saved (.tito/checkpoints/ by default;
when there is none, it first trains a small one with the "quick" preset, about 200 iterations,
and saves it). It continues --prompt by --tokens characters, sampling each next character from the
model's softmax at --temperature (0 = always the most likely one), restricted to the --top-k most
likely characters when given, with a generator seeded by --seed.

Checked in every run: the text starts with the prompt, has exactly the requested length, uses only
characters of the model's vocabulary, and is identical when generated again with the same seed.
On a terminal it then asks for more prompts (an empty line or Ctrl-D ends); when the environment
variable CI is set or stdin is not a terminal, it generates once and exits.
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import numpy as np  # noqa: E402
from _common import (  # noqa: E402
    EXIT_NOT_RUN,
    Clock,
    at_least,
    finish,
    import_script,
    nonempty_text,
    parser,
    sampling_temperature,
    seed_all,
)

from tinytorch.datasets import DatasetFormatError  # noqa: E402

gen = import_script("05_2017_transformer/01_vaswani_generation.py")
FALLBACK_PRESET = "quick"
DEFAULT_PROMPT = "To be, or not to be"


def small_config(args):
    cfg = gen.PRESETS[FALLBACK_PRESET]
    if args.iters is not None:
        cfg = gen.replace(cfg, iters=args.iters, warmup=min(cfg.warmup, max(1, args.iters // 10)))
    return cfg


def checkpoint_path(args) -> Path:
    """--checkpoint; else the documented run's model of 01 for this data, if saved; else this script's
    small model for this data, iterations and seed (trained when missing)."""
    if args.checkpoint:
        return Path(args.checkpoint)
    text = gen.load_text(args.data)[0] if args.data is not None else ""
    full = gen.checkpoint_for("default", gen.PRESETS["default"], 0, args.data, text)
    small = gen.checkpoint_for(FALLBACK_PRESET, small_config(args), args.seed, args.data, text)
    return full if full.is_file() and not args.retrain else small


def train_small(args, path: Path):
    """Train the quick preset on the data (as 01 does, without the baselines) and save it."""
    cfg = small_config(args)
    rng = seed_all(args.seed)
    text, source = gen.load_text(args.data)
    gen.check_length(len(text), cfg.context)
    tokenizer = gen.CharTokenizer().train(text)
    ids = np.array(tokenizer.encode(text), dtype=np.int64)
    n_train = gen.split_point(len(ids))
    print(f"training a small GPT on {source} ({FALLBACK_PRESET} preset: {cfg.layers} layers, dim {cfg.dim}, "
          f"{cfg.iters} iterations); run 01_vaswani_generation.py for the full model")
    model = gen.build(tokenizer.vocab_size, cfg)
    with Clock() as clock:
        gen.train(model, ids[:n_train], cfg, rng)
    starts = gen.eval_windows(n_train, len(ids), cfg.context, 64)
    loss = gen.heldout_loss(model, ids, starts, cfg.context)
    print(f"trained in {clock.seconds:.1f} s; held-out estimate {loss:.3f} nats/char (64 windows)")
    gen.save(path, model, tokenizer, cfg, heldout_loss=loss, seed=args.seed,
             data_sha256=gen.text_sha256(text), data_source=source,
             trained_by=f"02_vaswani_dialogue.py (preset {FALLBACK_PRESET})")
    return gen.load(path)


def generate(model, tokenizer, prompt: str, args) -> str:
    return gen.sample(model, tokenizer, prompt, args.tokens, temperature=args.temperature,
                      top_k=args.top_k, seed=args.seed)


def interactive() -> bool:
    return not os.environ.get("CI") and sys.stdin.isatty()


def main() -> None:
    p = parser(__doc__, plot=False)
    gen.add_arguments(p)
    p.add_argument("--prompt", type=nonempty_text, default=DEFAULT_PROMPT,
                   help=f"text to continue (default {DEFAULT_PROMPT!r})")
    p.add_argument("--tokens", type=at_least(1), default=200, help="characters to generate (default 200)")
    p.add_argument("--temperature", type=sampling_temperature, default=0.8,
                   help="sampling temperature, 0 = greedy (default 0.8)")
    p.add_argument("--top-k", type=at_least(1), default=None, metavar="K",
                   help="sample among the K most likely only")
    p.add_argument("--retrain", action="store_true", help="train a small model even if a checkpoint exists")
    p.add_argument("--iters", type=at_least(1), default=None,
                   help=f"iterations when a model must be trained (default: the {FALLBACK_PRESET} preset's)")
    args = p.parse_args()

    try:
        path = checkpoint_path(args)
        if args.retrain or not path.is_file():
            print(f"no checkpoint at {path}" if not path.is_file() else "--retrain given")
            model, tokenizer, cfg, extra = train_small(args, path)
        else:
            model, tokenizer, cfg, extra = gen.load(path)
            if args.data is not None:
                wanted = gen.text_sha256(gen.load_text(args.data)[0])
                if str(extra.get("data_sha256", np.array("")).item()) != wanted:
                    print(f"error: {path} was not trained on {args.data}; pass --retrain to train a small "
                          f"model on it, or --checkpoint PATH for another file", file=sys.stderr)
                    sys.exit(EXIT_NOT_RUN)
    except gen.CheckpointError as exc:
        print(f"error: {exc}\nDelete it, pass --retrain, or run 01_vaswani_generation.py again.",
              file=sys.stderr)
        sys.exit(EXIT_NOT_RUN)
    except (FileNotFoundError, DatasetFormatError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(EXIT_NOT_RUN)

    loss = extra.get("heldout_loss")
    trained = f", held-out loss {float(loss):.3f} nats/char" if loss is not None else ""
    print(f"model: {path}: GPT, {cfg.layers} layers, {cfg.heads} heads, dim {cfg.dim}, "
          f"context {cfg.context}, vocabulary of {tokenizer.vocab_size}{trained}\n"
          f"  {gen.provenance(extra)}")
    try:
        tokenizer.encode(args.prompt)
    except ValueError as exc:
        print(f"error: the prompt cannot be encoded: {exc}", file=sys.stderr)
        sys.exit(EXIT_NOT_RUN)

    with Clock() as clock:
        text = generate(model, tokenizer, args.prompt, args)
    again = generate(model, tokenizer, args.prompt, args)
    vocab = set(tokenizer.decode(list(range(tokenizer.vocab_size))))
    sampling = (f"temperature {args.temperature:g}" + (f", top-k {args.top_k}" if args.top_k else "")
                + f", seed {args.seed}")
    print(f"\n--- prompt {args.prompt!r}, {args.tokens} characters, {sampling} ---\n{text}\n---")

    if interactive():
        print("\nType a prompt and press Enter (an empty line or Ctrl-D ends).")
        while True:
            try:
                prompt = input("prompt> ")
            except EOFError:
                print()
                break
            if not prompt:
                break
            try:
                print(generate(model, tokenizer, prompt, args))
            except ValueError as exc:
                print(f"cannot use that prompt: {exc}")

    expected = len(args.prompt) + args.tokens
    finish("M05 part 2: generation from a prompt",
           {"prompt": repr(args.prompt),
            "generated": f"{len(text)} characters ({len(args.prompt)} of prompt + "
                         f"{len(text) - len(args.prompt)} new)",
            "sampling": sampling,
            "wall time (not judged)": f"{clock.seconds:.2f} s for {args.tokens} characters"},
           [("the text starts with the prompt", text.startswith(args.prompt)),
            (f"the text has the requested length ({expected} characters)", len(text) == expected),
            ("every character is in the model's vocabulary", set(text) <= vocab),
            ("the same seed gives the same text", again == text)])


if __name__ == "__main__":
    main()
