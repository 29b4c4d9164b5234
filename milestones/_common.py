"""Plumbing shared by the milestone scripts: arguments, seeds, data, the training loop, plots and
an honest summary with an exit code. Not part of `tinytorch`; besides tinytorch, NumPy and the
standard library it uses `tito.run.milestones` (which modules a milestone needs) and threadpoolctl.

Exit codes of every milestone script:
    0  the model reached the stated result (or, for scripts that need downloaded data, the data is
       absent and the script printed "SKIPPED (no data)")
    1  the model did not reach the stated result
    2  not run: a module it needs is not complete (the same message as `tito milestone run`), or
       the data is absent and --require-data was given
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no lock; two runs with the same fingerprint may both train
    fcntl = None

import numpy as np
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as `python milestones/.../x.py` from anywhere
    sys.path.insert(0, str(ROOT))

from tito.errors import TitoError  # noqa: E402
from tito.run import isolate, milestones  # noqa: E402

EXIT_OK, EXIT_MISSED, EXIT_NOT_RUN = 0, 1, 2
EXIT_NO_DATA = EXIT_NOT_RUN
# NumPy's BLAS threads while training. These models are small: a second OpenBLAS thread took the
# same CPU time and wall time on an idle machine, and was 15-20% slower on a busy one (measured in
# milestones/README.md). Override with --blas-threads.
BLAS_THREADS = 1


def _require_package() -> None:
    """Before anything imports tinytorch: stop with tito's message (exit 2) when the script's
    milestone needs a module whose package file is missing or broken, instead of a traceback."""
    isolate.scrub(ROOT)  # import this checkout's package, never another checkout's editable install
    ms = milestones.for_script(ROOT, Path(sys.argv[0])) if sys.argv and sys.argv[0] else None
    if ms is None:
        return
    try:
        milestones.check_package(ROOT, ms)
    except TitoError as exc:
        print(f"error: {exc.message}" + (f"\n{exc.hint}" if exc.hint else ""), file=sys.stderr)
        sys.exit(exc.exit_code)


class _PinBlas(argparse.Action):
    def __call__(self, parser, namespace, value, option_string=None):
        setattr(namespace, self.dest, value)
        threadpool_limits(value, user_api="blas")


_require_package()
threadpool_limits(BLAS_THREADS, user_api="blas")  # for the whole run; --blas-threads N changes it

from tinytorch.autograd import no_grad  # noqa: E402
from tinytorch.layers import manual_seed  # noqa: E402
from tinytorch.tensor import Tensor  # noqa: E402


def at_least(low: int) -> Callable[[str], int]:
    """An argparse type: a whole number >= low (a bad value exits 2 with a message, not a traceback)."""
    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {value}")
        return value
    return convert


def seed_number(text: str) -> int:
    """An argparse type: a seed NumPy accepts, 0 <= seed < 2**32."""
    value = at_least(0)(text)
    if value >= 2**32:
        raise argparse.ArgumentTypeError(f"must be below 2**32, got {value}")
    return value


def sampling_temperature(text: str) -> float:
    """An argparse type: a finite number >= 0 (0 means greedy)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not np.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def nonempty_text(text: str) -> str:
    """An argparse type: a prompt of at least one character."""
    if not text:
        raise argparse.ArgumentTypeError("must not be empty: the model needs a character to start from")
    return text


def parser(doc: str, data: str | None = None, plot: bool = True) -> argparse.ArgumentParser:
    """Arguments of a milestone: --seed; --plot for scripts with a training curve; --data and
    --require-data for scripts whose dataset (`data`: its folder name) is downloaded separately."""
    p = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    p.add_argument("--seed", type=seed_number, default=0, help="random seed (default 0: the documented run)")
    p.add_argument("--blas-threads", type=at_least(1), default=BLAS_THREADS, metavar="N", action=_PinBlas,
                   help=f"NumPy BLAS threads while training (default {BLAS_THREADS})")
    if plot:
        p.add_argument("--plot", metavar="PNG", nargs="?", const="auto",
                       help="save a training-curve PNG (needs matplotlib; optional)")
    if data:
        p.add_argument("--data", metavar="DIR", default=None,
                       help=f"folder holding the files (default: $TINYTORCH_DATA/{data} or datasets/{data})")
        p.add_argument("--require-data", action="store_true",
                       help="exit 2 instead of 0 when the files are absent")
    return p


def seed_all(seed: int) -> np.random.Generator:
    """Seed the layers' initializer and NumPy; return a generator for the script's own draws."""
    manual_seed(seed)
    np.random.seed(seed)
    return np.random.default_rng(seed)


def import_script(relative: str):
    """Import another milestone script (its `__main__` block does not run), to reuse its model."""
    path = Path(__file__).parent / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_or_skip(loader, args, what: str):
    """Call `loader()`; when the files are absent, say so and exit 0 (SKIPPED) or 2 (--require-data)."""
    try:
        return loader()
    except FileNotFoundError as exc:
        print(f"{exc}\n")
        if args.require_data:
            print(f"FAILED: {what} files not found (--require-data).")
            sys.exit(EXIT_NO_DATA)
        print(f"SKIPPED (no data): {what} files not found; nothing was trained. "
              f"Put the files in place (see datasets/README.md) or pass --data DIR.")
        sys.exit(EXIT_OK)


# --- training and evaluation -------------------------------------------------------------------

def predict(model, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Class predictions, in eval mode and without a graph (a single output means p > 0.5)."""
    model.eval()
    outs = []
    with no_grad():
        for i in range(0, len(x), batch_size):
            outs.append(model(Tensor(x[i:i + batch_size])).data)
    model.train()
    out = np.concatenate(outs)
    return (out[:, 0] > 0.5).astype(np.int64) if out.shape[1] == 1 else out.argmax(axis=1)


def accuracy(model, x: np.ndarray, y: np.ndarray) -> float:
    return float((predict(model, x) == y.reshape(-1)).mean())


def fit(model, loss_fn, optimizer, x, y, *, epochs: int, batch_size: int, seed: int,
        label: str = "model") -> dict[str, list[float]]:
    """Mini-batch training with module 07's Trainer over module 08's shuffled DataLoader; one
    progress-bar line per epoch. Returns the history: per epoch, the mean loss and the running
    train accuracy (measured on each batch as it was trained)."""
    from tinytorch.dataloader import DataLoader, TensorDataset
    from tinytorch.training import Trainer

    loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True, seed=seed)
    trainer = Trainer(model, optimizer, loss_fn)
    history: dict[str, list[float]] = {}
    for epoch in range(1, epochs + 1):
        for key, value in trainer.train_epoch(loader, desc=f"{label} epoch {epoch:>2}/{epochs}").items():
            history.setdefault(key, []).append(value)
    return history


# --- the training cache (for test suites) -------------------------------------------------------
# With TINYTORCH_TRAINING_CACHE=DIR set, a model trained by `train_or_reuse` is saved in DIR under a
# fingerprint of everything that decides its weights: the settings (configuration, seed, data), the
# source of every tinytorch and milestone file the script loaded, and the Python, NumPy and BLAS it
# ran on. A later run with the same fingerprint loads those weights instead of training again:
# training is deterministic, so it would get the same ones. `make test` uses this so that M05's GPT
# is trained once per run, not once by the milestone tests and again by the student journey (whose
# package is byte for byte the reference's). Unset, as for students, every run trains.
TRAINING_CACHE = "TINYTORCH_TRAINING_CACHE"


def fingerprint(settings: dict) -> str:
    """sha256 over `settings` and the code and platform that train with them (see TRAINING_CACHE)."""
    from threadpoolctl import threadpool_info

    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    blas = sorted(str(i.get("num_threads")) for i in threadpool_info())
    platform_facts = [sys.version, np.__version__, blas]
    digest.update(json.dumps(platform_facts).encode())
    loaded = {Path(f).resolve() for m in list(sys.modules.values()) if (f := getattr(m, "__file__", None))}
    ours = sorted(f for f in loaded if f.suffix == ".py" and f.is_relative_to(ROOT)
                  and f.relative_to(ROOT).parts[0] in ("tinytorch", "milestones"))
    for f in ours:
        digest.update(f.relative_to(ROOT).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return digest.hexdigest()


def train_or_reuse(model, settings: dict, rng: np.random.Generator,
                   train: Callable[[], dict]) -> tuple[dict, str | None]:
    """`train()` trains `model` in place and returns its history. Returns (history, None), or, when
    the training cache holds this fingerprint, (its history, the fingerprint) with the cached
    weights and generator state put in place instead of training."""
    folder = os.environ.get(TRAINING_CACHE)
    if not folder:
        return train(), None
    key = fingerprint(settings)
    entry = Path(folder) / f"{key}.npz"
    Path(folder).mkdir(parents=True, exist_ok=True)
    with open(Path(folder) / f"{key}.lock", "w") as lock:
        if fcntl is not None:  # another process training the same model: wait for it, then reuse
            fcntl.flock(lock, fcntl.LOCK_EX)
        params = model.parameters()
        if entry.is_file():
            with np.load(entry, allow_pickle=False) as saved:
                for i, p in enumerate(params):
                    p.data[...] = saved[f"param_{i}"]
                rng.bit_generator.state = json.loads(str(saved["rng"]))
                return json.loads(str(saved["history"])), key
        history = train()
        tmp = entry.with_name(f".{entry.name}.{os.getpid()}.tmp.npz")
        np.savez(tmp, history=json.dumps(history), rng=json.dumps(rng.bit_generator.state),
                 **{f"param_{i}": p.data for i, p in enumerate(params)})
        os.replace(tmp, entry)
        return history, None


class Clock:
    """Wall time of a `with` block, in seconds: `with Clock() as c: ...; c.seconds`."""

    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start


# --- reporting ----------------------------------------------------------------------------------

def save_plot(args, script: str, curves: dict[str, list[float]], ylabel: str = "value") -> None:
    """With --plot, save the curves as a PNG when matplotlib is importable (never required)."""
    if not getattr(args, "plot", None):
        return
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("note: --plot needs matplotlib (`pip install matplotlib`); no plot was saved.")
        return
    path = Path(args.plot if args.plot != "auto" else Path(script).with_suffix(".png").name)
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, values in curves.items():
        ax.plot(range(1, len(values) + 1), values, label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"plot saved: {path}")


def finish(title: str, measured: dict[str, str], checks: list[tuple[str, bool]]) -> None:
    """Print what this run measured and each claim with PASS/FAIL; exit 1 if any claim failed."""
    print(f"\n== {title} ==")
    width = max(map(len, measured), default=0)
    for name, value in measured.items():
        print(f"  {name:<{width}}  {value}")
    for claim, ok in checks:
        print(f"  [{'PASS' if ok else 'FAIL'}] {claim}")
    passed = all(ok for _, ok in checks)
    verdict = "reached" if passed else "NOT reached"
    print(f"RESULT: {verdict} (numbers above were measured in this run)")
    sys.exit(EXIT_OK if passed else EXIT_MISSED)
