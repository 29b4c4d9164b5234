"""M01 (1957), part 2: the perceptron learns a line that separates held-out data (>= 95%).

Two ways to train the same unit on the same linearly separable points:
  1. Rosenblatt's rule (1957): for each misclassified point, move the weights toward it,
     w <- w + lr * (y - prediction) * x. It provably converges when a separating line exists.
  2. Today's way: a smooth loss (binary cross-entropy on the Sigmoid), gradients from autograd,
     and SGD. This is the recipe every later milestone scales up.
Both are scored on 500 points they never saw.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import numpy as np  # noqa: E402
from _common import Clock, accuracy, finish, import_script, parser, save_plot, seed_all  # noqa: E402

from tinytorch.losses import BinaryCrossEntropyLoss  # noqa: E402
from tinytorch.optimizers import SGD  # noqa: E402
from tinytorch.tensor import Tensor  # noqa: E402

part1 = import_script("01_1957_perceptron/01_rosenblatt_forward.py")


def rosenblatt_rule(x: np.ndarray, y: np.ndarray, epochs: int = 20, lr: float = 0.1):
    """The 1957 learning rule, one point at a time, with tinytorch Tensors. Returns (w, b, mistakes)."""
    w, b = Tensor(np.zeros(2)), Tensor(0.0)
    mistakes = []
    for _ in range(epochs):
        wrong = 0
        for xi, yi in zip(x, y):
            xi = Tensor(xi)
            guess = float((xi @ w + b).item() > 0)
            if guess != yi:  # learn only from mistakes
                w = w + xi * (lr * (yi - guess))
                b = b + lr * (yi - guess)
                wrong += 1
        mistakes.append(wrong)
        if wrong == 0:  # a full pass without a mistake: the line separates the training set
            break
    return w, b, mistakes


def train_sgd(model, x, y, epochs: int = 30, batch_size: int = 20, lr: float = 1.0, seed: int = 0):
    """Mini-batch SGD on binary cross-entropy; returns the mean loss of each epoch."""
    loss_fn, opt = BinaryCrossEntropyLoss(), SGD(model.parameters(), lr=lr)
    targets = y.astype(np.float32).reshape(-1, 1)
    order_rng, losses = np.random.default_rng(seed), []
    for _ in range(epochs):
        order, total = order_rng.permutation(len(x)), 0.0
        for i in range(0, len(x), batch_size):
            batch = order[i:i + batch_size]
            loss = loss_fn(model(Tensor(x[batch])), targets[batch])
            opt.zero_grad()
            loss.backward()  # autograd: the gradient of the loss for every weight
            opt.step()       # w <- w - lr * gradient
            total += loss.item() * len(batch)
        losses.append(total / len(x))
    return losses


if __name__ == "__main__":
    args = parser(__doc__).parse_args()
    rng = seed_all(args.seed)
    x_train, y_train = part1.separable_data(rng, 200)
    x_test, y_test = part1.separable_data(rng, 500)

    with Clock() as rule_clock:
        w, b, mistakes = rosenblatt_rule(x_train, y_train)
    rule_acc = float((((Tensor(x_test) @ w + b).data > 0) == y_test).mean())
    print(f"Rosenblatt's rule: mistakes per pass {mistakes} -> held-out accuracy {rule_acc:.1%}")

    model = part1.perceptron()
    before = accuracy(model, x_test, y_test)
    with Clock() as sgd_clock:
        losses = train_sgd(model, x_train, y_train, seed=args.seed)
    sgd_acc = accuracy(model, x_test, y_test)
    print(f"BCE + SGD: held-out accuracy {before:.1%} before training -> {sgd_acc:.1%} after")
    save_plot(args, __file__, {"train loss": losses}, "binary cross-entropy")

    finish("M01 part 2: the trained perceptron separates held-out data",
           {"Rosenblatt rule, held-out accuracy": f"{rule_acc:.1%} ({len(mistakes)} passes, "
                                                   f"{rule_clock.seconds:.2f} s)",
            "BCE + SGD, held-out accuracy": f"{sgd_acc:.1%} (30 epochs, {sgd_clock.seconds:.2f} s)",
            "final training loss": f"{losses[-1]:.4f}"},
           [("Rosenblatt's rule >= 95% on held-out points", rule_acc >= 0.95),
            ("BCE + SGD >= 95% on held-out points", sgd_acc >= 0.95)])
