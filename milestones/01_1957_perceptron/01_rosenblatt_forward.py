"""M01 (1957), part 1: a perceptron with random weights guesses at chance, even on easy data.

Rosenblatt's perceptron computes `step(w · x + b)`: one Linear layer and a threshold (here a
Sigmoid, read as class 1 when it is above 0.5, which is the same decision). The data are 2-D points
that one straight line separates perfectly. Before learning, the weights are random, so the
perceptron's line points in a random direction: over many random draws it is right about half the
time. This script measures that, over 200 random perceptrons, and checks the mean is at chance.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import numpy as np  # noqa: E402
from _common import Clock, accuracy, finish, parser, seed_all  # noqa: E402

from tinytorch.activations import Sigmoid  # noqa: E402
from tinytorch.layers import Linear, Sequential  # noqa: E402

TRUE_W, TRUE_B, MARGIN = np.array([0.8, -0.6]), 0.1, 0.1


def separable_data(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """`n` points in [-1, 1]², half on each side of one fixed line, none closer to it than MARGIN."""
    points = rng.uniform(-1, 1, size=(8 * n, 2)).astype(np.float32)
    side = points @ TRUE_W + TRUE_B
    x = np.concatenate([points[side > MARGIN][:n // 2], points[side < -MARGIN][:n - n // 2]])
    y = (x @ TRUE_W + TRUE_B > 0).astype(np.int64)
    order = rng.permutation(n)
    return x[order], y[order]


def perceptron(rng=None) -> Sequential:
    """Rosenblatt's unit: w · x + b, then a threshold (Sigmoid > 0.5 is the same as w · x + b > 0)."""
    return Sequential(Linear(2, 1, rng=rng), Sigmoid())


if __name__ == "__main__":
    args = parser(__doc__, plot=False).parse_args()
    rng = seed_all(args.seed)
    x_test, y_test = separable_data(rng, 500)
    with Clock() as clock:
        first = accuracy(perceptron(), x_test, y_test)
        draws = np.array([accuracy(perceptron(rng=args.seed * 1000 + k), x_test, y_test)
                          for k in range(200)])
    print(f"data: {len(x_test)} points in 2-D, {y_test.mean():.0%} in class 1, separable by one line")
    print(f"one random perceptron (seed {args.seed}): {first:.1%} correct")
    print("200 random perceptrons, accuracy histogram:")
    counts, edges = np.histogram(draws, bins=10, range=(0, 1))
    for c, lo in zip(counts, edges):
        print(f"  {lo:4.0%}-{lo + 0.1:4.0%} {'#' * int(c):<40} {c}")
    print("A random perceptron draws its line in a random direction: single draws land anywhere from\n"
          "0% to 100%, and on average they are at chance (50%). A good draw is luck, not learning.\n"
          "Part 2 (02_rosenblatt_trained.py) learns the weights from the data.")
    finish("M01 part 1: a random perceptron is at chance",
           {"mean accuracy of 200 random perceptrons": f"{draws.mean():.1%}",
            "min / max": f"{draws.min():.1%} / {draws.max():.1%}",
            "wall time": f"{clock.seconds:.2f} s"},
           [("mean accuracy within the chance band 35%-65%", 0.35 <= draws.mean() <= 0.65)])
