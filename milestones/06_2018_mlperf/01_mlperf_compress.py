"""M06 (2018), part 1: compress the digits MLP within MLPerf's closed-division quality target.

MLPerf (2018) made "faster" and "smaller" comparable: fixed models, fixed data and a quality
target a result must keep; for image classification, at least 99% of the float reference's
accuracy, or the result does not count. Here the reference is module 16's digits MLP
(64-256-256-10) trained in this run. It is profiled (parameters, FLOPs, bytes, latency), then
compressed with the course's own tools: int8 quantization from calibration alone (module 15) and
global magnitude pruning with fine-tuning (module 16), then both together. Every compressed model
must keep >= 99% of the float model's test accuracy and be smaller; latency and throughput are
measured (interleaved, one BLAS thread) and printed, never judged.
"""

import copy
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import numpy as np  # noqa: E402
from _common import Clock, at_least, finish, parser, seed_all  # noqa: E402

from tinytorch.autograd import no_grad  # noqa: E402
from tinytorch.compression import digits_mlp, evaluate, fit, magnitude_prune, measure_sparsity  # noqa: E402
from tinytorch.datasets import load_tinydigits  # noqa: E402
from tinytorch.layers import Linear  # noqa: E402
from tinytorch.profiling import count_flops, count_parameters, format_report, profile_layers  # noqa: E402
from tinytorch.quantization import QuantizedLinear, model_nbytes, quantize_model  # noqa: E402
from tinytorch.tensor import Tensor  # noqa: E402

TARGET = 0.99  # closed division: a compressed model keeps >= 99% of the float reference's accuracy
HIDDEN, DROPOUT = 256, 0.3  # module 16's digits MLP
EPOCHS, LR = 30, 3e-3  # the float reference
SCHEDULE = (0.5, 0.8)  # gradual magnitude pruning: prune to 50%, fine-tune, prune to 80%, fine-tune
FINETUNE_EPOCHS, FINETUNE_LR = 10, 1e-3  # per pruning step
CALIBRATION = 256  # training images whose activations set the int8 input ranges


# --- a sparse storage format for int8 weights ----------------------------------------------------

def encode_sparse(weight_q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(bitmap, values): one bit per weight (1 where it is not zero, np.packbits) and the nonzero
    int8 values in row-major order. Costs n/8 + nnz bytes instead of n."""
    if weight_q.dtype != np.int8:
        raise TypeError(f"encode_sparse needs int8 weights, got {weight_q.dtype}")
    nonzero = weight_q.ravel() != 0
    return np.packbits(nonzero), weight_q.ravel()[nonzero].copy()


def decode_sparse(bitmap: np.ndarray, values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The int8 array of `shape` that encode_sparse encoded."""
    n = int(np.prod(shape))
    nonzero = np.unpackbits(bitmap, count=n).astype(bool)
    if int(nonzero.sum()) != values.size:
        raise ValueError(f"decode_sparse: the bitmap marks {int(nonzero.sum())} nonzero weights but "
                         f"{values.size} values were given")
    out = np.zeros(n, dtype=np.int8)
    out[nonzero] = values
    return out.reshape(shape)


def sparse_nbytes(model) -> tuple[int, bool]:
    """(bytes, exact): the size of `model` with every QuantizedLinear's weights in the sparse
    format (its scales, bias and input range as they are; float parameters as they are), and
    whether every encoded weight matrix decodes back to exactly the same int8 weights."""
    total, exact = sum(p.data.nbytes for p in model.parameters()), True
    for layer in model.modules():
        if isinstance(layer, QuantizedLinear):
            bitmap, values = encode_sparse(layer.weight_q)
            exact &= np.array_equal(decode_sparse(bitmap, values, layer.weight_q.shape), layer.weight_q)
            total += layer.nbytes - layer.weight_q.nbytes + bitmap.nbytes + values.nbytes
    return total, bool(exact)


def int8_zero_fraction(model) -> float:
    """The fraction of the int8 weights (all QuantizedLinear layers together) that are zero."""
    weights = [layer.weight_q for layer in model.modules() if isinstance(layer, QuantizedLinear)]
    return sum(int((w == 0).sum()) for w in weights) / sum(w.size for w in weights)


def keeps_zeros(float_model, int8_model) -> bool:
    """Whether every weight that is zero in the float model's Linear layers is zero in the
    matching QuantizedLinear of its quantized copy (the layers pair up in order)."""
    linears = [m for m in float_model.modules() if isinstance(m, Linear)]
    quantized = [m for m in int8_model.modules() if isinstance(m, QuantizedLinear)]
    if len(linears) != len(quantized):
        raise ValueError(f"keeps_zeros: {len(linears)} Linear layers but {len(quantized)} QuantizedLinear")
    return all(bool(np.all(q.weight_q[f.weight.data == 0] == 0)) for f, q in zip(linears, quantized))


# --- timing (printed, never judged) ---------------------------------------------------------------

def interleaved_times(models: dict[str, object], inputs: list[np.ndarray],
                      rounds: int) -> dict[str, np.ndarray]:
    """Seconds per call of each model, round robin (one call of each model per input, in turn),
    under no_grad; `inputs` are cycled. BLAS is already pinned to one thread by _common."""
    times = {name: np.empty(rounds) for name in models}
    with no_grad():
        for model in models.values():  # warm-up
            model.eval()(Tensor(inputs[0]))
        for r in range(rounds):
            x = Tensor(inputs[r % len(inputs)])
            for name, model in models.items():
                with Clock() as clock:
                    model(x)
                times[name][r] = clock.seconds
    return times


def kib(n: int) -> str:
    return f"{n:,} bytes ({n / 1024:.1f} KiB)"


def run(args) -> tuple[dict[str, str], list[tuple[str, bool]]]:
    seed_all(args.seed)
    x_train, y_train, x_test, y_test = load_tinydigits()
    x_train, x_test = x_train.reshape(len(x_train), -1), x_test.reshape(len(x_test), -1)
    n = len(y_test)
    print(f"TinyDigits: {len(x_train)} train / {n} test images of 8x8 pixels (flattened to 64), 10 classes")

    # 1. the float reference and its profile
    print(f"\n1. float reference: module 16's digits MLP 64-{HIDDEN}-{HIDDEN}-10, dropout {DROPOUT}, "
          f"Adam lr {LR:g}, {EPOCHS} epochs")
    with Clock() as train_clock:
        reference = fit(digits_mlp(HIDDEN, DROPOUT, seed=args.seed), x_train, y_train, epochs=EPOCHS, lr=LR,
                        seed=args.seed)
    acc = evaluate(reference, x_test, y_test)
    one = Tensor(x_test[:1])
    params, flops = count_parameters(reference), count_flops(reference, one)
    float_bytes = model_nbytes(reference)
    print(f"   test accuracy {acc:.2%} ({round(acc * n)}/{n}); {params:,} parameters, "
          f"{flops:,} FLOPs per image, {kib(float_bytes)} of float32 parameters")
    print(f"   closed-division target for every compressed model: >= {TARGET:.0%} of {acc:.2%} = "
          f"{TARGET * acc:.2%} (at least {int(np.ceil(TARGET * acc * n - 1e-9))}/{n} images)")
    print("   where the work is, one image (self ms: median of 3 traced passes; tracing adds overhead):")
    print("   " + format_report(profile_layers(reference, one)).replace("\n", "\n   "))

    # 2. int8 from calibration alone: no retraining
    calibration = x_train[:CALIBRATION]
    int8 = quantize_model(reference, calibration)
    int8_acc, int8_bytes = evaluate(int8, x_test, y_test), model_nbytes(int8)
    print(f"\n2. int8 (module 15: symmetric per-channel weights, inputs calibrated on {CALIBRATION} training "
          f"images, no retraining): test accuracy {int8_acc:.2%} ({round(int8_acc * n)}/{n}), "
          f"{kib(int8_bytes)}, {float_bytes / int8_bytes:.2f}x smaller")

    # 3. magnitude pruning with fine-tuning (module 16), on a copy of the reference
    pruned = copy.deepcopy(reference)
    print(f"\n3. global magnitude pruning (module 16), schedule {', '.join(f'{s:.0%}' for s in SCHEDULE)}: "
          f"prune, then fine-tune {FINETUNE_EPOCHS} epochs (Adam lr {FINETUNE_LR:g}) with the pruned "
          f"weights held at zero")
    with Clock() as prune_clock:
        for step, sparsity in enumerate(SCHEDULE):
            mask = magnitude_prune(pruned, sparsity)
            before = evaluate(pruned, x_test, y_test)
            fit(pruned, x_train, y_train, epochs=FINETUNE_EPOCHS, lr=FINETUNE_LR, seed=args.seed + 1 + step,
                mask=mask)
            after = evaluate(pruned, x_test, y_test)
            print(f"   {measure_sparsity(pruned):.1%} of the weights are zero: test accuracy {before:.2%} "
                  f"right after pruning, {after:.2%} after fine-tuning")
    pruned_acc = after

    # 4. both: quantize the pruned model
    both = quantize_model(pruned, calibration)
    both_acc, both_dense = evaluate(both, x_test, y_test), model_nbytes(both)
    zeros, kept = int8_zero_fraction(both), keeps_zeros(pruned, both)
    both_sparse, exact = sparse_nbytes(both)
    print(f"\n4. pruned + int8: test accuracy {both_acc:.2%} ({round(both_acc * n)}/{n}); {zeros:.1%} of the "
          f"int8 weights are zero; every pruned weight is still 0 in int8: {kept} (symmetric "
          f"quantization maps 0 to 0)")
    print(f"   stored dense: {kib(both_dense)}; stored sparse (a bitmap of 1 bit per weight + the nonzero "
          f"int8 values): {kib(both_sparse)}, decodes to the same int8 weights: {exact}")

    # 5. latency (batch 1, single stream) and throughput (all test images, offline): not judged
    models = {"float": reference, "int8": int8, "pruned + int8": both}
    single = interleaved_times(models, [x_test[i:i + 1] for i in range(n)], rounds=args.rounds)
    offline = interleaved_times(models, [x_test], rounds=max(3, args.rounds // 20))
    print(f"\n5. timing (not judged; interleaved round robin, one BLAS thread): batch 1 over {args.rounds} "
          f"rounds, batch {n} over {max(3, args.rounds // 20)} rounds")
    offline_head = f"images/s (batch {n})"
    print(f"   {'model':<14} {'accuracy':>9} {'bytes':>9} {'p50 ms':>8} {'p90 ms':>8} {offline_head:>24}")
    sizes = {"float": float_bytes, "int8": int8_bytes, "pruned + int8": both_sparse}
    accs = {"float": acc, "int8": int8_acc, "pruned + int8": both_acc}
    for name in models:
        p50, p90 = np.percentile(single[name], [50, 90]) * 1e3
        print(f"   {name:<14} {accs[name]:>9.2%} {sizes[name]:>9,} {p50:>8.3f} {p90:>8.3f} "
              f"{n / np.median(offline[name]):>24,.0f}")
    slower = np.median(single["int8"]) / np.median(single["float"])
    print(f"   int8 runs {slower:.2f}x the float time here: NumPy has no int8 matrix product, so the int32 "
          f"product runs in NumPy's own loops instead of BLAS; the saving is in bytes, not time")

    floor = TARGET * acc
    measured = {
        "float reference": f"{acc:.2%} test accuracy, {params:,} parameters, {flops:,} FLOPs/image, "
                           f"{float_bytes:,} bytes",
        "int8 (calibration only)": f"{int8_acc:.2%} ({int8_acc / acc:.2%} of float), {int8_bytes:,} bytes "
                                   f"({float_bytes / int8_bytes:.2f}x smaller)",
        "pruned (float)": f"{pruned_acc:.2%} at {measure_sparsity(pruned):.1%} sparsity",
        "pruned + int8": f"{both_acc:.2%} ({both_acc / acc:.2%} of float), {both_sparse:,} bytes sparse "
                         f"({float_bytes / both_sparse:.2f}x smaller than float), {both_dense:,} dense",
        "latency p50, batch 1 (not judged)": ", ".join(f"{k} {np.median(v) * 1e3:.3f} ms"
                                                       for k, v in single.items()),
        "wall time (not judged)": f"training {train_clock.seconds:.1f} s, pruning + fine-tuning "
                                  f"{prune_clock.seconds:.1f} s",
    }
    checks = [
        (f"int8 after calibration only keeps >= {TARGET:.0%} of the float accuracy", int8_acc >= floor),
        (f"int8 is smaller than float ({int8_bytes:,} < {float_bytes:,} bytes)", int8_bytes < float_bytes),
        (f"pruned {SCHEDULE[-1]:.0%} + fine-tuned + int8 keeps >= {TARGET:.0%} of the float accuracy",
         both_acc >= floor),
        ("every pruned weight is still zero after int8 quantization", kept),
        (f"stored sparse, pruned + int8 is smaller than the dense int8 ({both_sparse:,} < {int8_bytes:,} "
         "bytes) and decodes exactly", both_sparse < int8_bytes and exact),
    ]
    return measured, checks


if __name__ == "__main__":
    p = parser(__doc__, plot=False)
    p.add_argument("--rounds", type=at_least(1), default=200, metavar="N",
                   help="timed rounds of batch-1 inference per model (default 200; printed, never judged)")
    args = p.parse_args()
    measured, checks = run(args)
    finish("M06 part 1: int8 + pruning within the closed-division target", measured, checks)
