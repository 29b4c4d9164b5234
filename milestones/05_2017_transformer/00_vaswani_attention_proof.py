"""M05 (2017), part 0: attention moves information; a transformer learns to reverse sequences.

Vaswani et al.'s "Attention Is All You Need" replaced recurrence with attention: every position
builds its output from a weighted mix of all positions. Reversing a sequence needs exactly that:
output position i must read input position L-1-i. A tiny transformer (token embedding + learned
positions + one pre-norm TransformerBlock, no causal mask, a Linear head per position) learns it.

The control is the same model, trained the same way, with a mask that lets each position attend
only to itself (np.eye). Its output at position i can then depend only on token i and on i, and
for an even length L the target token L-1-i is a different, independent, uniform draw: chance is
1/V per position and (1/V)**L for a whole sequence. The comparison made in this run, not the
accuracy alone, is the proof that attention is what moves the information.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import numpy as np  # noqa: E402
from _common import Clock, finish, parser, seed_all  # noqa: E402

from tinytorch.autograd import no_grad  # noqa: E402
from tinytorch.embeddings import Embedding, LearnedPositionalEmbedding  # noqa: E402
from tinytorch.layers import Linear, Module  # noqa: E402
from tinytorch.losses import CrossEntropyLoss  # noqa: E402
from tinytorch.optimizers import Adam  # noqa: E402
from tinytorch.training import ProgressBar  # noqa: E402
from tinytorch.transformers import LayerNorm, TransformerBlock  # noqa: E402

VOCAB = 10  # tokens 0..9
LENGTH = 8  # even, so no position is its own mirror (the control has nothing to copy)
EMBED, HEADS, LAYERS = 32, 2, 1
N_TRAIN, N_TEST = 10_000, 1_000  # disjoint sets of random sequences
STEPS, BATCH, LR = 600, 64, 3e-3
TARGET = 0.99  # held-out sequences reversed exactly (every position right)
CONTROL_MARGIN = 0.03  # "near chance": per-position accuracy below 1/V + this


class Reverser(Module):
    """Embedding + learned positions + TransformerBlock(s) + LayerNorm + a Linear head per position.
    `mask` (T, T) bool is passed to every block: None lets every position see every position."""

    def __init__(self, vocab: int, length: int, embed: int, heads: int, layers: int, mask=None):
        super().__init__()
        self.token_embedding = Embedding(vocab, embed)
        self.position_embedding = LearnedPositionalEmbedding(length, embed)
        self.blocks = [TransformerBlock(embed, heads) for _ in range(layers)]
        self.ln_f = LayerNorm(embed)
        self.head = Linear(embed, vocab)
        self.mask = mask

    def forward(self, ids):
        hidden = self.token_embedding(ids)
        hidden = self.position_embedding(hidden)  # (B, T, D): what each token is, and where
        for layer in self.blocks:
            hidden = layer(hidden, self.mask)
        logits = self.head(self.ln_f(hidden))  # (B, T, VOCAB): one prediction per position
        return logits


def make_data(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Random training and held-out sequences (int64, (N, LENGTH)); no held-out sequence is in
    the training set."""
    test = rng.integers(0, VOCAB, size=(N_TEST, LENGTH))
    test = test[np.sort(np.unique(test, axis=0, return_index=True)[1])]  # drop repeats, keep order
    train = rng.integers(0, VOCAB, size=(N_TRAIN, LENGTH))
    seen = {row.tobytes() for row in test}
    train = train[np.array([row.tobytes() not in seen for row in train])]
    return train, test


def train(model: Reverser, x: np.ndarray, rng: np.random.Generator, label: str) -> float:
    """Adam on random mini-batches of (sequence, reversed sequence); returns the last 100 steps'
    mean loss."""
    opt, loss_fn, losses = Adam(model.parameters(), lr=LR), CrossEntropyLoss(), []
    with ProgressBar(STEPS, label) as bar:
        for _ in range(STEPS):
            batch = x[rng.integers(0, len(x), size=BATCH)]
            loss = loss_fn(model(batch), batch[:, ::-1])
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
            bar.update(loss=float(np.mean(losses[-100:])))
    return float(np.mean(losses[-100:]))


def predict(model: Reverser, x: np.ndarray) -> np.ndarray:
    model.eval()
    with no_grad():
        out = model(x).data.argmax(axis=-1)
    model.train()
    return out


def scores(model: Reverser, x: np.ndarray) -> tuple[float, float]:
    """(per-position accuracy, exact-sequence accuracy) of the reversal on `x`."""
    right = predict(model, x) == x[:, ::-1]
    return float(right.mean()), float(right.all(axis=1).mean())


if __name__ == "__main__":
    args = parser(__doc__, plot=False).parse_args()
    rng = seed_all(args.seed)
    x_train, x_test = make_data(rng)
    print(f"task: reverse sequences of {LENGTH} tokens from a vocabulary of {VOCAB}; "
          f"{len(x_train):,} training and {len(x_test):,} held-out sequences (disjoint)")
    print(f"example: {x_test[0].tolist()} -> {x_test[0, ::-1].tolist()}\n")

    with Clock() as clock:
        seed_all(args.seed + 1)
        model = Reverser(VOCAB, LENGTH, EMBED, HEADS, LAYERS, mask=None)
        loss = train(model, x_train, np.random.default_rng(args.seed + 2), "attention ")
        seed_all(args.seed + 1)  # the same initial weights and batches for the control
        control = Reverser(VOCAB, LENGTH, EMBED, HEADS, LAYERS, mask=np.eye(LENGTH, dtype=bool))
        control_loss = train(control, x_train, np.random.default_rng(args.seed + 2), "self-only ")

    pos_acc, seq_acc = scores(model, x_test)
    c_pos_acc, c_seq_acc = scores(control, x_test)
    chance_pos, chance_seq = 1 / VOCAB, (1 / VOCAB) ** LENGTH

    example = x_test[:3]
    print("\nheld-out examples (input -> attention model | self-only control):")
    for row, a, b in zip(example, predict(model, example), predict(control, example)):
        print(f"  {row.tolist()} -> {a.tolist()} | {b.tolist()}")
    # Where does each output position look? Heads averaged, over the held-out set.
    with no_grad():
        model.eval()
        model(x_test)
        model.train()
    weights = model.blocks[0].attn.last_weights.mean(axis=(0, 1))  # (T_q, T_k)
    looks = weights.argmax(axis=1)
    print(f"attention model, block 1: position i attends most to {looks.tolist()} "
          f"(the mirror L-1-i is {list(range(LENGTH - 1, -1, -1))}), "
          f"with weight {' '.join(f'{w:.2f}' for w in weights[np.arange(LENGTH), looks])}")

    n = len(x_test)
    finish("M05 part 0: attention moves information (sequence reversal)",
           {"attention model (held out)": f"{seq_acc:.1%} of sequences exact ({round(seq_acc * n)}/{n}), "
                                          f"{pos_acc:.1%} of positions; train loss {loss:.4f}",
            "self-only control (held out)": f"{c_seq_acc:.1%} of sequences exact "
                                            f"({round(c_seq_acc * n)}/{n}), {c_pos_acc:.1%} of positions; "
                                            f"train loss {control_loss:.4f}",
            "chance": f"{chance_pos:.0%} per position (1/{VOCAB}), {chance_seq:.0e} per sequence "
                      f"((1/{VOCAB})^{LENGTH}); the control's loss floor is ln {VOCAB} = {np.log(VOCAB):.4f}",
            "model": f"{sum(p.size for p in model.parameters()):,} parameters, {LAYERS} block, "
                     f"{HEADS} heads, dim {EMBED}; {STEPS} Adam steps of {BATCH}, lr {LR}",
            "wall time (not judged)": f"{clock.seconds:.1f} s for both trainings"},
           [(f"attention model reverses >= {TARGET:.0%} of held-out sequences exactly", seq_acc >= TARGET),
            (f"self-only control stays near chance per position (< {chance_pos + CONTROL_MARGIN:.0%})",
             c_pos_acc < chance_pos + CONTROL_MARGIN),
            ("self-only control reverses almost no held-out sequence (<= 1%)", c_seq_acc <= 0.01)])
