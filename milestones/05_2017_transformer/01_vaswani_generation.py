"""M05 (2017), part 1: a character-level GPT beats the n-gram baselines on held-out Shakespeare.

A GPT (token and position embeddings, pre-norm TransformerBlocks with causal self-attention,
a LayerNorm and a Linear head) reads characters and predicts the next one. It is trained on the
first 90% of datasets/shakespeare.txt (or any UTF-8 file given with --data); the last 10% is held
out. In the same run and on exactly the same held-out characters, the script measures four
baselines counted on the training text: uniform (every character 1/V), unigram, bigram and
trigram (add-k smoothed, k chosen on a development slice of the training text). Loss is in nats
per character; the claim is that the GPT's held-out loss is below the trigram's.

It prints samples before and after training and saves the model and its tokenizer to
.tito/checkpoints/ (atomically; --checkpoint PATH to change), which 02_vaswani_dialogue.py loads.
Each kind of run has its own file (`checkpoint_for`): a short or failed trial, another preset, seed
or data set never replaces the documented run's model.
"""

import hashlib
import math
import os
import sys
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import numpy as np  # noqa: E402
from _common import (  # noqa: E402
    EXIT_NOT_RUN,
    ROOT,
    TRAINING_CACHE,
    Clock,
    at_least,
    finish,
    import_script,
    parser,
    save_plot,
    seed_all,
    train_or_reuse,
)

from tinytorch.autograd import no_grad  # noqa: E402
from tinytorch.datasets import DatasetFormatError, load_shakespeare, read_text  # noqa: E402
from tinytorch.losses import CrossEntropyLoss  # noqa: E402
from tinytorch.optimizers import Adam  # noqa: E402
from tinytorch.tokenization import CharTokenizer  # noqa: E402
from tinytorch.training import ProgressBar, clip_grad_norm, load_checkpoint, save_checkpoint  # noqa: E402
from tinytorch.transformers import GPT  # noqa: E402

ngrams = import_script("05_2017_transformer/ngrams.py")

CHECKPOINT = ROOT / ".tito" / "checkpoints" / "m05_char_gpt.npz"  # the documented run's model
TRAIN_FRACTION = 0.9  # the first 90% of the text trains, the last 10% is held out
EVAL_BATCH = 64  # held-out windows per forward pass when measuring the loss
GRAD_CLIP = 1.0
BETAS = (0.9, 0.99)


@dataclass(frozen=True)
class Config:
    layers: int
    heads: int
    dim: int
    context: int
    batch: int
    iters: int
    lr: float
    warmup: int  # linear warm-up steps, then cosine decay to lr / 10 at the last step


PRESETS = {
    "default": Config(layers=2, heads=4, dim=64, context=64, batch=16, iters=2000, lr=3e-3, warmup=100),
    # nanoGPT's CPU run of config/train_shakespeare_char.py (its README): 4 layers, 4 heads,
    # 128 dims, context 64, batch 12, 2,000 iterations, lr 1e-3 decayed to 1e-4, no dropout.
    "nanogpt-cpu": Config(layers=4, heads=4, dim=128, context=64, batch=12, iters=2000, lr=1e-3, warmup=100),
    # For a quick look and for 02_vaswani_dialogue.py when no checkpoint exists.
    "quick": Config(layers=2, heads=4, dim=64, context=64, batch=16, iters=300, lr=3e-3, warmup=30),
}


# --- data ---------------------------------------------------------------------------------------

def load_text(path: str | None) -> tuple[str, str]:
    """(text, where it came from): the shipped corpus, or the UTF-8 file at `path`."""
    if path is None:
        return load_shakespeare(), "datasets/shakespeare.txt"
    return read_text(path), str(path)


def checkpoint_for(preset: str, cfg: Config, seed: int, data: str | None, text: str) -> Path:
    """Where a run saves its model by default: CHECKPOINT for the documented run (default preset and
    iterations, seed 0, the shipped corpus); a file named after what differs for any other run."""
    parts = [] if preset == "default" else [preset]
    if cfg.iters != PRESETS[preset].iters:
        parts.append(f"{cfg.iters}it")
    if seed != 0:
        parts.append(f"seed{seed}")
    if data is not None:
        parts.append(f"{Path(data).stem}-{text_sha256(text)[:8]}")
    return CHECKPOINT if not parts else CHECKPOINT.with_name(f"{CHECKPOINT.stem}-{'-'.join(parts)}.npz")


def provenance(extra: dict) -> str:
    """What trained a saved model, from the facts `save` stored with it."""
    def fact(key: str, default: str = "?") -> str:
        return str(extra[key].item()) if key in extra else default
    return (f"trained by {fact('trained_by', 'an earlier version of the M05 scripts')} on "
            f"{fact('data_source')} ({fact('config_iters')} iterations, seed {fact('seed')})")


def text_sha256(text: str) -> str:
    """Fingerprint of the training text, stored in the checkpoint."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def split_point(n: int) -> int:
    """Number of training characters: the first 90%."""
    return int(n * TRAIN_FRACTION)


def check_length(n: int, context: int) -> None:
    """Both parts must hold at least one full window (context + 1 characters)."""
    fits = lambda m: min(split_point(m), m - split_point(m)) >= context + 1  # noqa: E731
    if not fits(n):
        need = next(m for m in range(n, 20 * (context + 1)) if fits(m))
        raise ValueError(f"the text has {n:,} characters; with context {context} and a 90/10 split it "
                         f"needs at least {need:,} (each part must hold {context + 1} characters)")


def eval_windows(n_train: int, n: int, context: int, count: int | None) -> np.ndarray:
    """Start positions of the held-out windows: consecutive, non-overlapping windows of `context`
    inputs (and the next character as the last target) covering the held-out part; with `count`,
    that many of them, evenly spaced."""
    available = (n - 1 - n_train) // context
    starts = n_train + context * np.arange(available)
    if count is not None and count < available:
        starts = starts[np.linspace(0, available - 1, count).round().astype(np.int64)]
    return starts


def windows(ids: np.ndarray, starts: np.ndarray, context: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs ids[s : s+context] and targets ids[s+1 : s+context+1] for each start s."""
    block = ids[starts[:, None] + np.arange(context + 1)]
    return block[:, :-1], block[:, 1:]


# --- model, loss, training ----------------------------------------------------------------------

def build(vocab_size: int, cfg: Config) -> GPT:
    return GPT(vocab_size, cfg.dim, cfg.layers, cfg.heads, cfg.context)


def heldout_loss(model: GPT, ids: np.ndarray, starts: np.ndarray, context: int) -> float:
    """Mean cross-entropy (nats/char) over every target of the windows at `starts`, no graph."""
    total, count = 0.0, 0
    was_training = model.training
    model.eval()
    with no_grad():
        for i in range(0, len(starts), EVAL_BATCH):
            x, y = windows(ids, starts[i:i + EVAL_BATCH], context)
            logits = model(x).data.astype(np.float64)
            shifted = logits - logits.max(axis=-1, keepdims=True)
            logp = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
            total -= float(np.take_along_axis(logp, y[..., None], axis=-1).sum())
            count += y.size
    model.train(was_training)
    return total / count


def lr_at(step: int, cfg: Config) -> float:
    """Linear warm-up over cfg.warmup steps, then cosine decay from cfg.lr to cfg.lr / 10."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.iters - 1 - cfg.warmup)
    return cfg.lr / 10 + 0.5 * (cfg.lr - cfg.lr / 10) * (1 + math.cos(math.pi * min(progress, 1.0)))


def train(model: GPT, train_ids: np.ndarray, cfg: Config, rng: np.random.Generator,
          probe=None, probes: int = 5) -> dict[str, list[float]]:
    """Adam on random windows of the training ids (targets never reach past the training part),
    with gradient clipping and the learning-rate schedule above. `probe()` (a quick held-out
    estimate) runs `probes` times, evenly spaced. Returns the history."""
    opt, loss_fn = Adam(model.parameters(), lr=cfg.lr, betas=BETAS), CrossEntropyLoss()
    params = model.parameters()
    history: dict[str, list[float]] = {"step": [], "train loss": [], "held-out estimate": []}
    recent: list[float] = []
    marks = set(np.linspace(0, cfg.iters, probes + 1).round().astype(int)[1:].tolist())
    bar = ProgressBar(cfg.iters, "training")
    for step in range(cfg.iters):
        starts = rng.integers(0, len(train_ids) - cfg.context, size=cfg.batch)
        x, y = windows(train_ids, starts, cfg.context)
        opt.lr = lr_at(step, cfg)
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        clip_grad_norm(params, GRAD_CLIP)
        opt.step()
        recent.append(loss.item())
        bar.update(loss=float(np.mean(recent[-50:])))
        if step + 1 in marks:
            history["step"].append(step + 1)
            history["train loss"].append(float(np.mean(recent)))
            recent = []
            if probe is not None:
                history["held-out estimate"].append(probe())
                bar.file.write(f"{'' if not bar.interactive else chr(10)}  step {step + 1:>5}/{cfg.iters}: "
                               f"train loss {history['train loss'][-1]:.3f}, held-out estimate "
                               f"{history['held-out estimate'][-1]:.3f} nats/char\n")
    bar.close()
    return history


# --- samples and checkpoints --------------------------------------------------------------------

def default_prompt(text: str) -> str:
    """A newline when the vocabulary has one (samples then start like a new line), else the
    first character of the text."""
    return "\n" if "\n" in text else text[0]


def sample(model: GPT, tokenizer: CharTokenizer, prompt: str, tokens: int, *, temperature: float,
           top_k: int | None, seed: int) -> str:
    ids = np.array(tokenizer.encode(prompt), dtype=np.int64)
    out = model.generate(ids, tokens, temperature=temperature, top_k=top_k, seed=seed)
    return tokenizer.decode(out)


def tokenizer_path(checkpoint: Path) -> Path:
    return checkpoint.with_name(checkpoint.stem + ".tokenizer.json")


def save(path: Path, model: GPT, tokenizer: CharTokenizer, cfg: Config, **extra) -> None:
    """The model (npz, via module 07's atomic save_checkpoint) and the tokenizer (JSON next to
    it, written to a temporary file and renamed). The vocabulary is also stored in the npz, so a
    tokenizer file from another run is detected on loading."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tok = tokenizer_path(path)
    fd, tmp = tempfile.mkstemp(dir=tok.parent, prefix=f".{tok.name}.", suffix=".tmp")
    os.close(fd)
    try:
        tokenizer.save(tmp)
        os.replace(tmp, tok)
    finally:
        Path(tmp).unlink(missing_ok=True)  # only left over when something failed
    vocab = np.array([ord(c) for c in tokenizer.decode(list(range(tokenizer.vocab_size)))], dtype=np.int64)
    save_checkpoint(path, model, vocab=vocab, **{f"config_{k}": v for k, v in asdict(cfg).items()}, **extra)


class CheckpointError(Exception):
    """A checkpoint that is missing, unreadable or does not match its tokenizer."""


def load(path: Path) -> tuple[GPT, CharTokenizer, Config, dict]:
    """The model, tokenizer and configuration saved by `save`, or CheckpointError saying why not."""
    tok = tokenizer_path(path)
    for p in (path, tok):
        if not p.is_file():
            raise CheckpointError(f"no checkpoint: {p} does not exist")
    try:
        with np.load(path, allow_pickle=False) as f:
            extra = {k.split("/", 1)[1]: f[k] for k in f.files if k.startswith("extra/")}
        fields = {name: type(getattr(PRESETS["default"], name)) for name in asdict(PRESETS["default"])}
        cfg = Config(**{name: kind(extra[f"config_{name}"].item()) for name, kind in fields.items()})
        tokenizer = CharTokenizer.load(tok)
        vocab = "".join(chr(int(c)) for c in extra["vocab"])
        if tokenizer.decode(list(range(tokenizer.vocab_size))) != vocab:
            raise CheckpointError(f"{tok} does not belong to {path} (its vocabulary differs)")
        model = build(tokenizer.vocab_size, cfg)
        load_checkpoint(path, model)
    except CheckpointError:
        raise
    except Exception as exc:  # a truncated zip, a missing entry, wrong shapes: say which file
        raise CheckpointError(f"cannot load checkpoint {path}: {type(exc).__name__}: {exc}") from None
    return model, tokenizer, cfg, extra


# --- the run ------------------------------------------------------------------------------------

def run(args) -> tuple[dict[str, str], list[tuple[str, bool]]]:
    cfg = PRESETS[args.preset]
    if args.iters is not None:
        cfg = replace(cfg, iters=args.iters, warmup=min(cfg.warmup, max(1, args.iters // 10)))
    rng = seed_all(args.seed)
    try:
        text, source = load_text(args.data)
        check_length(len(text), cfg.context)
    except (FileNotFoundError, DatasetFormatError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(EXIT_NOT_RUN)
    tokenizer = CharTokenizer().train(text)
    ids = np.array(tokenizer.encode(text), dtype=np.int64)
    vocab = tokenizer.vocab_size
    n_train = split_point(len(ids))
    starts = eval_windows(n_train, len(ids), cfg.context, args.eval_windows)
    targets = (starts[:, None] + 1 + np.arange(cfg.context)).reshape(-1)  # positions predicted
    unseen = sorted(set(text[n_train:]) - set(text[:n_train]))
    print(f"data: {source}: {len(text):,} characters, vocabulary of {vocab}; "
          f"train = first {n_train:,}, held out = last {len(text) - n_train:,}")
    if unseen:
        print(f"  {len(unseen)} held-out character(s) never occur in the training part: {unseen!r}")
    print(f"held-out loss is measured on {len(targets):,} characters: {len(starts):,} windows of "
          f"{cfg.context} (every model and baseline on exactly these)")

    with Clock() as base_clock:
        base = ngrams.baselines(ids[:n_train], ids, targets, vocab, orders=(1, 2, 3, 4))
    print("baselines (counted on the training part; add-k chosen on its last 10%; the 4-gram is for "
          "scale, not part of the claim):")
    for name, (loss, k) in base.items():
        print(f"  {name:8s} {loss:.4f} nats/char" + (f"  (k = {k:g})" if k is not None else "  (ln V)"))

    model = build(vocab, cfg)
    n_params = sum(p.size for p in model.parameters())
    prompt = default_prompt(text)
    temperature, top_k = 0.8, None
    print(f"\nmodel: GPT, {cfg.layers} layers, {cfg.heads} heads, dim {cfg.dim}, context {cfg.context}: "
          f"{n_params:,} parameters")
    before = sample(model, tokenizer, prompt, args.sample_chars, temperature=temperature, top_k=top_k,
                    seed=args.seed)
    print(f"\n--- sample before training (temperature {temperature}) ---{before}\n---")
    probe_starts = eval_windows(n_train, len(ids), cfg.context, 64)  # a fixed subset for progress lines
    start_loss = heldout_loss(model, ids, probe_starts, cfg.context)
    print(f"held-out estimate before training (64 windows): {start_loss:.3f} nats/char "
          f"(a random model is near ln V = {math.log(vocab):.3f})\n")

    print(f"training: {cfg.iters} iterations of {cfg.batch} windows, Adam lr {cfg.lr:g} "
          f"(warm-up {cfg.warmup}, cosine to {cfg.lr / 10:g}), betas {BETAS}, gradient clip {GRAD_CLIP}")
    settings = {"script": "M05 generation", "config": asdict(cfg), "seed": args.seed,
                "data": text_sha256(text)}
    with Clock() as clock:
        probe = lambda: heldout_loss(model, ids, probe_starts, cfg.context)  # noqa: E731
        history, reused = train_or_reuse(model, settings, rng,
                                         lambda: train(model, ids[:n_train], cfg, rng, probe=probe))
    if reused:
        print(f"  not trained again: {TRAINING_CACHE} holds this model, trained earlier by the same code "
              f"on the same data, configuration and seed (fingerprint {reused[:12]})")
    with Clock() as eval_clock:
        final = heldout_loss(model, ids, starts, cfg.context)
    after = sample(model, tokenizer, prompt, args.sample_chars, temperature=temperature, top_k=top_k,
                   seed=args.seed)
    print(f"\n--- sample after training (temperature {temperature}) ---{after}\n---")

    path = checkpoint_for(args.preset, cfg, args.seed, args.data, text)
    path = Path(args.checkpoint) if args.checkpoint else path
    try:
        save(path, model, tokenizer, cfg, heldout_loss=final, seed=args.seed, data_sha256=text_sha256(text),
             data_source=source, trained_by=f"01_vaswani_generation.py (preset {args.preset})")
    except OSError as exc:  # a full disk, a read-only folder: one line, and the old checkpoint is kept
        print(f"error: could not save the model to {path}: {exc.strerror or exc}", file=sys.stderr)
        sys.exit(EXIT_NOT_RUN)
    reloaded, *_ = load(path)
    x, _ = windows(ids, starts[:2], cfg.context)
    with no_grad():
        model.eval()
        same = np.array_equal(model(x).data, reloaded.eval()(x).data)
    print(f"checkpoint: {path} (+ {tokenizer_path(path).name})")
    save_plot(args, __file__, {k: v for k, v in history.items() if k != "step" and v}, "nats/char")

    trigram = base["trigram"][0]
    tokens = cfg.iters * cfg.batch * cfg.context
    measured = {
        "held-out loss, GPT": f"{final:.4f} nats/char ({math.exp(final):.2f} perplexity)",
        **{f"held-out loss, {name}": f"{loss:.4f}" + (f" (add-k, k = {k:g})" if k is not None else "")
           + (" (for scale; not claimed)" if name == "4-gram" else "")
           for name, (loss, k) in base.items()},
        "GPT vs trigram": f"{trigram - final:.4f} nats/char lower (better)" if final < trigram
        else f"{final - trigram:.4f} nats/char higher (worse)",
        "model": f"{n_params:,} parameters; preset {args.preset}: {cfg.layers} layers, {cfg.heads} "
                 f"heads, dim {cfg.dim}, context {cfg.context}, batch {cfg.batch}, {cfg.iters} iterations, "
                 f"lr {cfg.lr:g}",
        "wall time (not judged)": (f"training {clock.seconds:.1f} s "
                                   f"({tokens / max(clock.seconds, 1e-9):,.0f} tokens/s)"
                                   if not reused else f"training reused from {TRAINING_CACHE}")
                                  + f", final held-out pass {eval_clock.seconds:.1f} s, "
                                  f"baselines {base_clock.seconds:.1f} s",
    }
    checks = [("GPT held-out loss is below the trigram's (same characters)", final < trigram),
              ("the saved checkpoint reloads to identical predictions", same)]
    return measured, checks


def add_arguments(p) -> None:
    p.add_argument("--data", metavar="PATH", default=None,
                   help="a UTF-8 text file to train on (default: datasets/shakespeare.txt)")
    p.add_argument("--checkpoint", metavar="PATH", default=None,
                   help=f"the model file (default: {CHECKPOINT.relative_to(ROOT)} for the documented run, "
                        "a file named after the preset, iterations, seed and data for any other)")


if __name__ == "__main__":
    p = parser(__doc__)
    add_arguments(p)
    p.add_argument("--preset", choices=sorted(PRESETS), default="default",
                   help="model and training configuration (default: default)")
    p.add_argument("--iters", type=at_least(1), default=None,
                   help="training iterations (default: the preset's)")
    p.add_argument("--eval-windows", type=at_least(1), default=None, metavar="N",
                   help="held-out windows to measure on (default: all of them, covering the held-out part)")
    p.add_argument("--sample-chars", type=at_least(1), default=300, metavar="N", help="length of the samples")
    args = p.parse_args()
    measured, checks = run(args)
    finish("M05 part 1: a character-level GPT beats the n-gram baselines", measured, checks)
