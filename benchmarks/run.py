"""TinyTorch against PyTorch (CPU), one thread each, interleaved in one run.

    python benchmarks/run.py                 # the table (several seconds)
    python benchmarks/run.py --json out.json # also save every measured number
    python benchmarks/run.py --quick         # 1 repetition, tiny sizes: checks that it runs

Five cases, each a fixed amount of work done the same way by both frameworks on the same data
and the same initial weights:
  mlp_train   784-128-10 MLP (ReLU), batch 256: forward, cross-entropy, backward, SGD step
  cnn_train   Conv2d(1->8, 3x3) + ReLU + MaxPool2d(2) + Flatten + Linear(8*13*13 -> 10),
              1x28x28 images, batch 32: forward, cross-entropy, backward, SGD step
  conv_fwd    Conv2d(3->16, 3x3, padding=1) forward only (no grad), 3x32x32 images, batch 64
  block_train TransformerBlock(64, 4 heads) on (8, 32, 64) with a causal mask: forward, backward
  gpt_train   GPT at nanoGPT's CPU configuration (vocab 65, 4 layers, 4 heads, 128 dims, context
              64), batch 12: forward, cross-entropy, backward, AdamW step; also in tokens/s

Timing: warm up both, then alternate repetitions TinyTorch/PyTorch/TinyTorch/... so that both
see the same machine state; each repetition runs the step enough times to last ~0.1 s and the
reported time per step is the median over repetitions. One BLAS/OpenMP thread each: the script
re-runs itself with OPENBLAS/OMP/MKL_NUM_THREADS=1 before NumPy is imported, and calls
torch.set_num_threads(1). PyTorch is an optional baseline, never a TinyTorch dependency.
"""

from __future__ import annotations

import os
import subprocess
import sys

THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")

if __name__ == "__main__" and any(os.environ.get(v) != "1" for v in THREAD_VARS):
    # The thread count of NumPy's BLAS is fixed when NumPy is first imported: set it, then re-run.
    env = {**os.environ, **dict.fromkeys(THREAD_VARS, "1")}
    sys.exit(subprocess.call([sys.executable, *sys.argv], env=env))

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import tinytorch  # noqa: E402
from tinytorch.activations import ReLU  # noqa: E402
from tinytorch.autograd import no_grad  # noqa: E402
from tinytorch.layers import Linear, Sequential, manual_seed  # noqa: E402
from tinytorch.losses import CrossEntropyLoss  # noqa: E402
from tinytorch.optimizers import SGD  # noqa: E402
from tinytorch.spatial import Conv2d, Flatten, MaxPool2d  # noqa: E402
from tinytorch.tensor import Tensor  # noqa: E402

try:
    import torch
except ImportError:  # the baseline is optional
    torch = None

TARGETS = {"mlp_train": 1.2, "cnn_train": 3.0, "conv_fwd": 3.0, "block_train": 2.0, "gpt_train": None}


# --- the cases: (tinytorch step, torch step or None, description) ------------------------------

def _copy_weights(tt_layers, torch_layers):
    """Give the PyTorch layers TinyTorch's initial weights (Linear stores (in, out), torch (out, in))."""
    with torch.no_grad():
        for a, b in zip(tt_layers, torch_layers):
            w = a.weight.data
            b.weight.copy_(torch.from_numpy(w.T.copy() if isinstance(b, torch.nn.Linear) else w.copy()))
            if b.bias is not None:
                b.bias.copy_(torch.from_numpy(a.bias.data.reshape(-1).copy()))


def _train_steps(tt_model, tt_layers, th_model, th_layers, x, y):
    """One training step per call: zero grads, forward, cross-entropy, backward, SGD step."""
    tt_x, tt_loss, tt_opt = Tensor(x), CrossEntropyLoss(), SGD(tt_model.parameters(), lr=0.01)

    def tt_step():
        tt_opt.zero_grad()
        loss = tt_loss(tt_model(tt_x), y)
        loss.backward()
        tt_opt.step()
        return loss.item()

    if torch is None:
        return tt_step, None
    _copy_weights(tt_layers, th_layers)
    th_x, th_y = torch.from_numpy(x), torch.from_numpy(y)
    th_loss, th_opt = torch.nn.CrossEntropyLoss(), torch.optim.SGD(th_model.parameters(), lr=0.01)

    def th_step():
        th_opt.zero_grad()
        loss = th_loss(th_model(th_x), th_y)
        loss.backward()
        th_opt.step()
        return loss.item()

    return tt_step, th_step


def mlp_train(rng, batch, hidden=128):
    x = rng.random((batch, 784), dtype=np.float32)
    y = rng.integers(0, 10, batch)
    l1, l2 = Linear(784, hidden), Linear(hidden, 10)
    tt = Sequential(l1, ReLU(), l2)
    th = t1 = t2 = None
    if torch is not None:
        t1, t2 = torch.nn.Linear(784, hidden), torch.nn.Linear(hidden, 10)
        th = torch.nn.Sequential(t1, torch.nn.ReLU(), t2)
    steps = _train_steps(tt, [l1, l2], th, [t1, t2], x, y)
    return (*steps, f"784-{hidden}-10 MLP train step, batch {batch}")


def cnn_train(rng, batch, size=28):
    x = rng.random((batch, 1, size, size), dtype=np.float32)
    y = rng.integers(0, 10, batch)
    flat = 8 * ((size - 2) // 2) ** 2
    conv, fc = Conv2d(1, 8, 3), Linear(flat, 10)
    tt = Sequential(conv, ReLU(), MaxPool2d(2), Flatten(), fc)
    th = tconv = tfc = None
    if torch is not None:
        tconv, tfc = torch.nn.Conv2d(1, 8, 3), torch.nn.Linear(flat, 10)
        th = torch.nn.Sequential(tconv, torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(), tfc)
    steps = _train_steps(tt, [conv, fc], th, [tconv, tfc], x, y)
    return (*steps, f"conv(1->8,3x3)+pool+linear train step, 1x{size}x{size}, batch {batch}")


def conv_fwd(rng, batch, size=32):
    x = rng.random((batch, 3, size, size), dtype=np.float32)
    conv, tt_x = Conv2d(3, 16, 3, padding=1), Tensor(x)

    def tt_step():
        with no_grad():
            return float(conv(tt_x).data[0, 0, 0, 0])

    th_step = None
    if torch is not None:
        tconv, th_x = torch.nn.Conv2d(3, 16, 3, padding=1), torch.from_numpy(x)
        _copy_weights([conv], [tconv])

        def th_step():
            with torch.no_grad():
                return float(tconv(th_x)[0, 0, 0, 0])

    return tt_step, th_step, f"Conv2d(3->16, 3x3, pad 1) forward, 3x{size}x{size}, batch {batch}"


# --- transformers (module 13; skipped when the package does not have it yet) -------------------

def _torch_transformer():
    """PyTorch twins of TransformerBlock and GPT, written the way a PyTorch user would (fused
    scaled_dot_product_attention, tanh GELU), whose weights are copied from TinyTorch by name."""
    nn, F = torch.nn, torch.nn.functional

    class Block(nn.Module):
        def __init__(self, dim, heads):
            super().__init__()
            self.heads = heads
            self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
            self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(dim, dim) for _ in range(4))
            self.fc1, self.fc2 = nn.Linear(dim, 4 * dim), nn.Linear(4 * dim, dim)

        def forward(self, x):
            B, T, D = x.shape
            h = self.ln1(x)
            q, k, v = (p(h).view(B, T, self.heads, D // self.heads).transpose(1, 2)
                       for p in (self.q_proj, self.k_proj, self.v_proj))
            att = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.out_proj(att.transpose(1, 2).reshape(B, T, D))
            return x + self.fc2(F.gelu(self.fc1(self.ln2(x)), approximate="tanh"))

    class GPT(nn.Module):
        def __init__(self, vocab, dim, layers, heads, seq):
            super().__init__()
            self.token_embedding = nn.Embedding(vocab, dim)
            self.position_embedding = nn.Parameter(torch.zeros(seq, dim))
            self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(layers))
            self.ln_f, self.head = nn.LayerNorm(dim), nn.Linear(dim, vocab)

        def forward(self, ids):
            x = self.token_embedding(ids) + self.position_embedding[:ids.shape[1]]
            for layer in self.blocks:
                x = layer(x)
            logits = self.head(self.ln_f(x))
            return logits

    return Block, GPT


def _torch_name(name: str) -> str:
    """TinyTorch parameter name -> the twin's (the twin flattens attn.* and mlp.* into the block)."""
    name = name.replace("attn.", "").replace("mlp.", "")
    return "position_embedding" if name == "position_embedding.weight" else name


def _copy_by_name(tt_model, th_model):
    th_params = dict(th_model.named_parameters())
    with torch.no_grad():
        for name, p in tt_model.named_parameters():
            target = th_params[_torch_name(name)]
            is_linear_weight = p.ndim == 2 and "embedding" not in name
            target.copy_(torch.from_numpy(p.data.T.copy() if is_linear_weight else p.data.copy()))


def block_train(rng, batch, seq=32, dim=64, heads=4):
    from tinytorch.attention import causal_mask
    from tinytorch.transformers import TransformerBlock

    x = rng.standard_normal((batch, seq, dim), dtype=np.float32)
    g = rng.standard_normal((batch, seq, dim), dtype=np.float32)  # the gradient fed back
    block, mask = TransformerBlock(dim, heads), causal_mask(seq)
    tt_x, tt_g, params = Tensor(x, requires_grad=True), Tensor(g), block.parameters()

    def tt_step():  # returns <x.grad, g> / size: depends on the whole forward and backward pass
        for p in (tt_x, *params):  # what an optimizer's zero_grad does
            p.grad = None
        block(tt_x, mask=mask).backward(tt_g)
        return float(np.vdot(tt_x.grad.data, g)) / g.size

    th_step = None
    if torch is not None:
        th_block = _torch_transformer()[0](dim, heads)
        _copy_by_name(block, th_block)
        th_x, th_g = torch.tensor(x, requires_grad=True), torch.from_numpy(g)
        th_params = list(th_block.parameters())

        def th_step():
            for p in (th_x, *th_params):
                p.grad = None
            th_block(th_x).backward(th_g)
            return float((th_x.grad * th_g).sum()) / g.size

    description = f"TransformerBlock({dim}, {heads}) forward+backward, causal, ({batch}, {seq}, {dim})"
    return tt_step, th_step, description


def gpt_train(rng, batch, seq=64, dim=128, layers=4, heads=4, vocab=65):
    from tinytorch.optimizers import AdamW
    from tinytorch.transformers import GPT

    ids = rng.integers(0, vocab, (batch, seq + 1))
    x, y = ids[:, :-1], ids[:, 1:]
    model = GPT(vocab, dim, layers, heads, seq)
    tt_loss, tt_opt = CrossEntropyLoss(), AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)

    def tt_step():
        tt_opt.zero_grad()
        loss = tt_loss(model(x), y)
        loss.backward()
        tt_opt.step()
        return loss.item()

    th_step = None
    if torch is not None:
        th_model = _torch_transformer()[1](vocab, dim, layers, heads, seq)
        _copy_by_name(model, th_model)
        th_x, th_y = torch.from_numpy(x), torch.from_numpy(y)
        th_opt = torch.optim.AdamW(th_model.parameters(), lr=1e-3, weight_decay=0.1)

        def th_step():
            th_opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(th_model(th_x).reshape(-1, vocab), th_y.reshape(-1))
            loss.backward()
            th_opt.step()
            return loss.item()

    description = (f"GPT(vocab {vocab}, {layers} layers, {heads} heads, {dim} dims, context {seq}) "
                   f"train step (AdamW), batch {batch}")
    return tt_step, th_step, description, batch * seq


# --- timing ----------------------------------------------------------------------------------

def _time(fn, number):
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def measure(tt_step, th_step, repeats, warmup, budget):
    """Median seconds per step for each framework, repetitions interleaved A/B/A/B."""
    steps = [s for s in (tt_step, th_step) if s is not None]
    for step in steps:
        for _ in range(warmup):
            step()
    numbers = [max(1, int(budget / max(_time(s, 1), 1e-6))) for s in steps]
    samples = [[] for _ in steps]
    for _ in range(repeats):
        for i, step in enumerate(steps):
            samples[i].append(_time(step, numbers[i]))
    medians = [statistics.median(s) for s in samples]
    return medians[0], (medians[1] if th_step is not None else None), numbers


def check_same_work(tt_step, th_step, steps: int = 3):
    """Same weights, data and learning rate: the losses of the first steps must agree, which also
    checks the gradients and the update (steps 2 and 3 see the updated weights)."""
    if th_step is None:
        return None
    return max(abs(tt_step() - th_step()) for _ in range(steps))


# --- main ------------------------------------------------------------------------------------

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", metavar="FILE", help="save the measured numbers as JSON")
    parser.add_argument("--quick", action="store_true", help="1 repetition at tiny sizes (smoke test)")
    parser.add_argument("--repeats", type=int, default=7, help="timed repetitions per framework")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a case misses its target")
    parser.add_argument("--only", nargs="+", metavar="CASE", help="run only these cases")
    args = parser.parse_args(argv)

    if torch is not None:
        torch.set_num_threads(1)
        torch.manual_seed(0)
    manual_seed(0)  # TinyTorch's initial weights, which PyTorch's layers then copy
    rng = np.random.default_rng(0)
    has_transformers = (ROOT / "tinytorch" / "transformers.py").is_file()
    if args.quick:
        cases = {"mlp_train": mlp_train(rng, 8, hidden=16), "cnn_train": cnn_train(rng, 2, size=10),
                 "conv_fwd": conv_fwd(rng, 2, size=8)}
        if has_transformers:
            cases["block_train"] = block_train(rng, 2, seq=8, dim=16, heads=2)
            cases["gpt_train"] = gpt_train(rng, 2, seq=8, dim=16, layers=1, heads=2)
        repeats, warmup, budget = 1, 1, 0.0
    else:
        cases = {"mlp_train": mlp_train(rng, 256), "cnn_train": cnn_train(rng, 32),
                 "conv_fwd": conv_fwd(rng, 64)}
        if has_transformers:
            cases["block_train"] = block_train(rng, 8)
            cases["gpt_train"] = gpt_train(rng, 12)
        repeats, warmup, budget = args.repeats, 5, 0.1
    if args.only:
        unknown = sorted(set(args.only) - set(cases))
        if unknown:
            parser.error(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(cases)}")
        cases = {name: case for name, case in cases.items() if name in args.only}

    threads = {v: os.environ.get(v) for v in THREAD_VARS[:3]}
    print(f"TinyTorch {tinytorch.__version__} (NumPy {np.__version__})  vs  "
          f"{'PyTorch ' + torch.__version__ if torch else 'PyTorch: not installed'}")
    print(f"{platform.python_implementation()} {platform.python_version()}, {platform.machine()}, "
          f"threads: {', '.join(f'{k}={v}' for k, v in threads.items())}"
          f"{f', torch={torch.get_num_threads()}' if torch else ''}")
    print(f"median of {repeats} interleaved repetitions after {warmup} warm-up steps\n")

    header = f"{'case':<11} {'TinyTorch ms':>12} {'PyTorch ms':>11} {'ratio':>7} {'target':>7}  result"
    print(header)
    print("-" * len(header))
    results = []
    for name, (tt_step, th_step, description, *tokens) in cases.items():
        diff = check_same_work(tt_step, th_step, steps=1 if name == "conv_fwd" else 3)
        tt_s, th_s, numbers = measure(tt_step, th_step, repeats, warmup, budget)
        ratio = tt_s / th_s if th_s else None
        target = TARGETS[name]
        verdict = "n/a" if ratio is None or target is None else ("PASS" if ratio <= target else "MISS")
        if diff is not None and diff > 1e-3:  # not the same computation: the ratio means nothing
            verdict = "DIFFERS"
        th_text = f"{th_s * 1e3:11.3f}" if th_s else f"{'-':>11}"
        ratio_text = f"{ratio:6.2f}x" if ratio else f"{'-':>7}"
        target_text = f"{target:6.1f}x" if target else f"{'-':>7}"
        print(f"{name:<11} {tt_s * 1e3:12.3f} {th_text} {ratio_text} {target_text}  {verdict}")
        result = {"case": name, "description": description, "tinytorch_ms": tt_s * 1e3,
                  "pytorch_ms": th_s * 1e3 if th_s else None, "ratio": ratio, "target": target,
                  "result": verdict, "steps_per_repetition": numbers, "max_abs_diff": diff}
        if tokens:  # a language-model step: also in tokens per second
            result["tokens_per_step"] = tokens[0]
            result["tinytorch_tokens_per_s"] = tokens[0] / tt_s
            result["pytorch_tokens_per_s"] = tokens[0] / th_s if th_s else None
        results.append(result)
    print()
    for r in results:
        what = {"conv_fwd": "outputs [0,0,0,0]", "block_train": "<x.grad, g> / size"}.get(r["case"],
                                                                                     "first 3 losses")
        note = "" if r["max_abs_diff"] is None else f"  ({what} agree within {r['max_abs_diff']:.1e})"
        print(f"  {r['case']:<11} {r['description']}{note}")
        if "tokens_per_step" in r:
            theirs = f", PyTorch {r['pytorch_tokens_per_s']:,.0f}" if r["pytorch_tokens_per_s"] else ""
            print(f"  {'':<11} tokens/s: TinyTorch {r['tinytorch_tokens_per_s']:,.0f}{theirs} "
                  f"({r['tokens_per_step']} tokens per step)")
    if torch is None:
        print("\nPyTorch is not installed: ratios need the baseline, `pip install torch==2.13.0` (CPU).")
    if args.quick:
        print("\n--quick: tiny sizes and one repetition; these numbers are not a benchmark.")

    if args.json:
        payload = {"tinytorch": tinytorch.__version__, "numpy": np.__version__,
                   "torch": torch.__version__ if torch else None, "python": platform.python_version(),
                   "machine": platform.machine(), "threads": threads, "quick": args.quick,
                   "repeats": repeats, "warmup": warmup, "results": results}
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n")
        print(f"saved {args.json}")
    if any(r["result"] == "DIFFERS" for r in results):
        print("DIFFERS: TinyTorch and PyTorch disagree on the same inputs; fix correctness first.")
    missed = any(r["result"] in ("MISS", "DIFFERS") for r in results)
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
