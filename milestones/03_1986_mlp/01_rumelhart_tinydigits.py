"""M03 (1986): a multi-layer perceptron trained by backpropagation reads handwritten digits (>= 95%).

Rumelhart, Hinton and Williams showed that gradients flow backward through hidden layers by the
chain rule, so every weight of a deep network can learn. Here: the 8x8 UCI digits that ship with
the repository (1,437 training and 360 test images), flattened to 64 numbers, through a
64-128-64-10 ReLU network trained with cross-entropy and Adam in mini-batches.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import Clock, accuracy, finish, fit, parser, save_plot, seed_all  # noqa: E402

from tinytorch.activations import ReLU  # noqa: E402
from tinytorch.datasets import load_tinydigits  # noqa: E402
from tinytorch.layers import Linear, Sequential  # noqa: E402
from tinytorch.losses import CrossEntropyLoss  # noqa: E402
from tinytorch.optimizers import Adam  # noqa: E402

EPOCHS, BATCH, LR = 30, 32, 1e-3  # the recipe, shared with M04's comparison and the MNIST script


def build_mlp(inputs: int = 64, hidden: tuple[int, ...] = (128, 64), classes: int = 10) -> Sequential:
    layers, width = [], inputs
    for h in hidden:
        layers += [Linear(width, h), ReLU()]
        width = h
    return Sequential(*layers, Linear(width, classes))


def train_mlp(x_train, y_train, seed: int, epochs: int = EPOCHS, **build):
    """Build the MLP and train it on flattened images; returns (model, history)."""
    flat = x_train.reshape(len(x_train), -1)
    model = build_mlp(inputs=flat.shape[1], **build)
    history = fit(model, CrossEntropyLoss(), Adam(model.parameters(), lr=LR), flat, y_train,
                  epochs=epochs, batch_size=BATCH, seed=seed, label="MLP")
    return model, history


if __name__ == "__main__":
    args = parser(__doc__).parse_args()
    seed_all(args.seed)
    x_train, y_train, x_test, y_test = load_tinydigits()
    print(f"TinyDigits: {len(x_train)} train / {len(x_test)} test images of 8x8 pixels, 10 classes")
    with Clock() as clock:
        model, history = train_mlp(x_train, y_train, args.seed)
    print(model)
    test_acc = accuracy(model, x_test.reshape(len(x_test), -1), y_test)
    save_plot(args, __file__, {"train loss": history["loss"], "train accuracy": history["accuracy"]}, "")
    finish("M03: backpropagation trains an MLP on real digits",
           {"test accuracy": f"{test_acc:.1%} ({round(test_acc * len(y_test))}/{len(y_test)})",
            "last-epoch train loss / accuracy": f"{history['loss'][-1]:.4f} / {history['accuracy'][-1]:.1%}",
            "training wall time": f"{clock.seconds:.1f} s ({EPOCHS} epochs, batch {BATCH})"},
           [("test accuracy >= 95%", test_acc >= 0.95)])
