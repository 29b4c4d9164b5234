"""M03 (1986) on MNIST: the same MLP code on 60,000 handwritten 28x28 digits (>= 97% test).

Needs the four MNIST files (gzipped or not) in datasets/mnist/, or $TINYTORCH_DATA/mnist/, or
--data DIR; see datasets/README.md. Without them it prints "SKIPPED (no data)" and exits 0
(exit 2 with --require-data), so `tito milestone run --all` passes offline.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import (  # noqa: E402
    Clock,
    accuracy,
    at_least,
    finish,
    import_script,
    load_or_skip,
    parser,
    save_plot,
    seed_all,
)

from tinytorch.datasets import load_mnist  # noqa: E402

mlp = import_script("03_1986_mlp/01_rumelhart_tinydigits.py")
EPOCHS, HIDDEN, TARGET = 5, (256, 128), 0.97

if __name__ == "__main__":
    p = parser(__doc__, data="mnist")
    p.add_argument("--epochs", type=at_least(1), default=EPOCHS, help=f"training epochs (default {EPOCHS})")
    args = p.parse_args()
    seed_all(args.seed)
    (x_train, y_train), (x_test, y_test) = load_or_skip(
        lambda: (load_mnist(args.data, "train"), load_mnist(args.data, "test")), args, "MNIST")
    print(f"MNIST: {len(x_train)} train / {len(x_test)} test images of 28x28 pixels")
    with Clock() as clock:
        model, history = mlp.train_mlp(x_train, y_train, args.seed, epochs=args.epochs, hidden=HIDDEN)
    test_acc = accuracy(model, x_test.reshape(len(x_test), -1), y_test)
    save_plot(args, __file__, {"train loss": history["loss"], "train accuracy": history["accuracy"]}, "")
    finish(f"M03 on MNIST: the same MLP code on {len(x_train):,} handwritten digits",
           {"model": f"784-{'-'.join(map(str, HIDDEN))}-10 ReLU, Adam lr {mlp.LR}, batch {mlp.BATCH}",
            "test accuracy": f"{test_acc:.2%}",
            "last-epoch train loss / accuracy": f"{history['loss'][-1]:.4f} / {history['accuracy'][-1]:.1%}",
            "training wall time": f"{clock.seconds:.1f} s ({args.epochs} epochs)"},
           [(f"test accuracy >= {TARGET:.0%}", test_acc >= TARGET)])
