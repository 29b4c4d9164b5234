"""M04 (1998): a convolutional network beats the MLP on the same digits (>= 97%).

LeCun, Bottou, Bengio and Haffner's LeNet-5 read cheques for banks. Its idea: a small filter slid
over the whole image (a convolution) finds a stroke wherever it is, with a handful of shared
weights, and pooling makes the answer tolerant to small shifts. The MLP of M03 must learn each
stroke separately at every position. Here both are trained in this run, on the same 8x8 digits,
with the same optimizer, batch size and epochs, and their test accuracies are compared.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import Clock, accuracy, finish, fit, import_script, parser, save_plot, seed_all  # noqa: E402

from tinytorch.activations import ReLU  # noqa: E402
from tinytorch.datasets import load_tinydigits  # noqa: E402
from tinytorch.layers import Linear, Sequential  # noqa: E402
from tinytorch.losses import CrossEntropyLoss  # noqa: E402
from tinytorch.optimizers import Adam  # noqa: E402
from tinytorch.spatial import Conv2d, Flatten, MaxPool2d  # noqa: E402

m03 = import_script("03_1986_mlp/01_rumelhart_tinydigits.py")
EPOCHS, BATCH, LR = m03.EPOCHS, m03.BATCH, m03.LR
TARGET = 0.97


def lenet(channels: int = 1, classes: int = 10) -> Sequential:
    """A LeNet in miniature for 8x8 inputs: 1x8x8 -> 32x4x4 -> 64x2x2 -> 10."""
    return Sequential(
        Conv2d(channels, 32, 3, padding=1), ReLU(), MaxPool2d(2),  # 32 x 4 x 4
        Conv2d(32, 64, 3, padding=1), ReLU(), MaxPool2d(2),        # 64 x 2 x 2
        Flatten(), Linear(64 * 2 * 2, classes),
    )


if __name__ == "__main__":
    args = parser(__doc__).parse_args()
    seed_all(args.seed)
    x_train, y_train, x_test, y_test = load_tinydigits()
    x_train, x_test = x_train[:, None], x_test[:, None]  # add the channel axis: (N, 1, 8, 8)

    with Clock() as cnn_clock:
        cnn = lenet()
        cnn_hist = fit(cnn, CrossEntropyLoss(), Adam(cnn.parameters(), lr=LR), x_train, y_train,
                       epochs=EPOCHS, batch_size=BATCH, seed=args.seed, label="CNN")
    print(cnn)
    cnn_acc = accuracy(cnn, x_test, y_test)

    seed_all(args.seed)
    with Clock() as mlp_clock:  # M03's model and recipe, measured again here
        mlp, mlp_hist = m03.train_mlp(x_train, y_train, args.seed)
    mlp_acc = accuracy(mlp, x_test.reshape(len(x_test), -1), y_test)

    n = len(y_test)
    save_plot(args, __file__, {"CNN train loss": cnn_hist["loss"], "MLP train loss": mlp_hist["loss"]},
              "cross-entropy")
    finish("M04: convolutions beat the MLP on the same digits",
           {"CNN test accuracy": f"{cnn_acc:.1%} ({round(cnn_acc * n)}/{n}), "
                                 f"{sum(p.size for p in cnn.parameters()):,} parameters",
            "MLP test accuracy": f"{mlp_acc:.1%} ({round(mlp_acc * n)}/{n}), "
                                 f"{sum(p.size for p in mlp.parameters()):,} parameters",
            "wall time (not judged)": f"CNN {cnn_clock.seconds:.1f} s + MLP {mlp_clock.seconds:.1f} s "
                                      f"({EPOCHS} epochs each, batch {BATCH})"},
           [(f"CNN test accuracy >= {TARGET:.0%}", cnn_acc >= TARGET),
            ("CNN beats the MLP trained in this run", cnn_acc > mlp_acc)])
