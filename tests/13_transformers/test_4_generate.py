"""Module 13: sample_next and generate — greedy, temperature, top-k, determinism, context crop."""

import numpy as np
import pytest

from tinytorch.layers import Module
from tinytorch.tensor import Config, Tensor
from tinytorch.testing import raises
from tinytorch.transformers import GPT, generate, sample_next


@pytest.fixture
def model():
    m = GPT(12, 16, 2, 2, 5, rng=0)
    rng = np.random.default_rng(1)
    for p in m.parameters():
        p.data[...] = rng.normal(size=p.shape) * 0.5
    return m


class Fixed(np.random.Generator):
    """A generator whose random() returns the given draws (one per row)."""

    def __init__(self, draws):
        super().__init__(np.random.PCG64(0))
        self.draws = np.asarray(draws, dtype=np.float64)

    def random(self, size=None):
        assert size == len(self.draws), f"one draw per row: asked for {size}, expected {len(self.draws)}"
        return self.draws


class _Sweep(np.random.Generator):
    """A generator whose random(n) returns n draws spread evenly over (0, 1), none on a boundary."""

    def __init__(self):
        super().__init__(np.random.PCG64(0))

    def random(self, size=None):
        return np.linspace(0.001, 0.999, size)


@pytest.mark.parametrize("k, top", [(2, [0, 4]), (3, [0, 2, 4]), (4, [0, 1, 2, 4]), (1, [4])])
def test_top_k_keeps_exactly_the_k_largest_without_ties(k, top):
    distinct = [3.0, 1.0, 2.0, 0.0, 4.0]
    try:
        picks = sample_next(np.tile(distinct, (400, 1)), 1.0, k, rng=_Sweep())
    except Exception as err:
        pytest.fail(f"top_k = {k} on {distinct}: sample_next raised {type(err).__name__}: {err}")
    kept = sorted(set(int(i) for i in picks))
    if len(kept) == k - 1 and set(kept) < set(top):
        wrong_count = (f" ({len(kept)} tokens kept instead of {k}, the k-th largest itself left out: "
                       "does the mask keep logits > the k-th largest instead of >= it? the k-th "
                       "largest is one of the k kept, and logits tied with it are kept too)")
    else:
        wrong_count = (f" ({len(kept)} tokens kept instead of {k}: is the k-th largest taken at the "
                       "wrong rank, or the comparison the wrong way round?)")
    assert kept == top, (f"top_k = {k} on {distinct} (no ties): draws across [0, 1) picked tokens {kept}, "
                         f"expected exactly {top}" + (wrong_count if len(kept) != k else ""))


def test_large_logits_are_shifted_before_exp():
    picks = sample_next(np.array([[1000.0, 999.0, 0.0]] * 2), rng=Fixed([0.5, 0.8]))
    assert picks.tolist() == [0, 1], (f"logits [1000, 999, 0], draws 0.5 and 0.8: got {picks.tolist()}, "
                                      "expected [0, 1] (exp(1000) overflows: shift each row by its maximum)")
    mixed = sample_next(np.array([[1000.0, 999.0, 0.0], [0.0, 1.0, -1.0]]), rng=Fixed([0.5, 0.5]))
    assert mixed.tolist() == [0, 1], \
        (f"rows [1000, 999, 0] and [0, 1, -1], draws 0.5: got {mixed.tolist()}, expected [0, 1]: each row is "
         "shifted by its own maximum (one maximum for the whole batch underflows the second row to zeros)")


def test_greedy_is_the_first_argmax_and_ignores_the_rng():
    logits = np.array([[1.0, 4.0, 4.0], [0.0, -1.0, 2.0]])
    for seed in range(3):
        assert sample_next(logits, 0, rng=seed).tolist() == [1, 2]
    assert sample_next(logits, 0.0, top_k=1, rng=0).tolist() == [1, 2]


def test_top_k_never_samples_outside_the_k_largest():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(300, 20))
    picks = sample_next(logits, 2.0, top_k=3, rng=1)
    top3 = np.argsort(-logits, axis=1)[:, :3]
    assert all(p in row for p, row in zip(picks, top3))


def test_top_k_keeps_ties():
    logits = np.tile([3.0, 1.0, 1.0, 0.0], (30000, 1))
    freq = np.bincount(sample_next(logits, top_k=2, rng=2), minlength=4) / 30000
    e = np.exp([3.0, 1.0, 1.0])
    assert np.allclose(freq[:3], e / e.sum(), atol=0.01) and freq[3] == 0, freq


@pytest.mark.parametrize("top_k", [4, 5, 99])
def test_top_k_at_least_vocab_keeps_everything(top_k):
    logits = np.tile([3.0, 1.0, 1.0, 0.0], (30000, 1))
    try:
        picks = sample_next(logits, top_k=top_k, rng=3)
    except Exception as err:
        pytest.fail(f"top_k = {top_k} >= V = 4 must keep every token (as without top-k), but "
                    f"sample_next raised {type(err).__name__}: {err}")
    all_kept = np.bincount(picks, minlength=4) / 30000
    e = np.exp([3.0, 1.0, 1.0, 0.0])
    assert np.allclose(all_kept, e / e.sum(), atol=0.01), \
        f"top_k = {top_k} >= V = 4 keeps every token: frequencies {all_kept}, expected {e / e.sum()}"
    draws = np.array([0.0, 0.5, 0.9, 0.99])
    assert sample_next(logits[:4], top_k=top_k, rng=Fixed(draws)).tolist() == \
        sample_next(logits[:4], rng=Fixed(draws)).tolist(), f"top_k = {top_k} >= V picks as without top-k"


def test_inverse_cdf_picks_the_first_index_with_running_sum_above_u():
    # equal logits: running sum c = [1, 2, 3, 4], u = draw * 4; a draw landing exactly on c_i picks i + 1
    # (the entries <= u are counted: searchsorted side="right"; side="left" would pick i)
    picks = sample_next(np.zeros((5, 4)), rng=Fixed([0.0, 0.25, 0.5, 0.75, 0.999]))
    assert picks.tolist() == [0, 1, 2, 3, 3], \
        f"draws on the running sum: got {picks.tolist()}, expected [0, 1, 2, 3, 3]"
    # a zero-probability token (masked by top-k) is never picked, even when u lands on its running sum
    logits = np.array([[5.0, 0.0, 5.0, 0.0], [0.0, 5.0, 5.0, 0.0], [5.0, 5.0, 0.0, 0.0]])
    picks = sample_next(logits, top_k=2, rng=Fixed([0.5, 0.0, 0.5]))
    assert picks.tolist() == [2, 1, 1], \
        f"masked tokens at the boundary: got {picks.tolist()}, expected [2, 1, 1]"


def test_generate_uses_one_generator_for_the_whole_run():
    flat = GPT(7, 8, 1, 2, 4, rng=0)
    flat.head.weight.data[:] = 0.0
    flat.head.bias.data[:] = 0.0  # every logit 0: token = floor(7 * draw)
    run = flat.generate(np.zeros((3, 2), np.int64), 15, seed=21)[:, 2:]
    gen = np.random.default_rng(21)
    want = np.stack([np.floor(gen.random(3) * 7).astype(np.int64) for _ in range(15)], axis=1)
    assert np.array_equal(run, want), \
        f"the draws of a run must be one generator's successive draws (made once per run): got {run.tolist()}"


def test_high_temperature_flattens_and_extreme_logits_stay_finite(strict_numerics):
    logits = np.tile([0.0, 2.0], (40000, 1))
    hot = np.bincount(sample_next(logits, 100.0, rng=4), minlength=2) / 40000
    assert np.allclose(hot, [0.5, 0.5], atol=0.02), hot
    with strict_numerics():
        extreme = sample_next(np.array([[1e30, -1e30, 0.0]], np.float32), 1e-3, rng=5)
    assert extreme.tolist() == [0]


def test_one_draw_per_row_with_the_given_generator():
    gen = np.random.default_rng(9)
    logits = np.zeros((5, 4))
    first = sample_next(logits, rng=gen)
    assert gen.bit_generator.state == _after_draws(9, 5), "one rng.random() draw per row, from the rng given"
    assert first.dtype == np.int64 and first.shape == (5,)


def _after_draws(seed, n):
    g = np.random.default_rng(seed)
    g.random(n)
    return g.bit_generator.state


def test_sample_next_errors():
    raises(ValueError, lambda: sample_next(np.zeros(4)), "(B, V)")
    raises(ValueError, lambda: sample_next(np.zeros((2, 0))), "(B, V)")
    raises(ValueError, lambda: sample_next(np.array([[0.0, np.nan]])), "NaN")
    raises(ValueError, lambda: sample_next(np.zeros((1, 3)), temperature=-0.5), "temperature")
    raises(ValueError, lambda: sample_next(np.zeros((1, 3)), temperature=float("nan")), "temperature")
    raises(ValueError, lambda: sample_next(np.zeros((1, 3)), top_k=0), "top_k")
    assert sample_next(Tensor(np.array([[0.0, 5.0]])), 0).tolist() == [1], "a Tensor of logits is accepted"


def test_generate_shapes_dtype_and_prompt(model):
    one = model.generate([3, 4], 6, seed=0)
    assert one.shape == (8,) and one.dtype == np.int64 and one[:2].tolist() == [3, 4]
    batch = model.generate(np.array([[3, 4], [5, 6], [0, 0]]), 4, seed=0)
    assert batch.shape == (3, 6) and batch[:, :2].tolist() == [[3, 4], [5, 6], [0, 0]]
    assert np.all((batch >= 0) & (batch < 12))
    from_tensor = generate(model, Tensor([1.0, 2.0]), 3, seed=1)
    assert from_tensor.tolist() == model.generate([1, 2], 3, seed=1).tolist()


def test_rows_of_a_batch_are_independent_of_each_other_with_greedy(model):
    batch = model.generate(np.array([[3, 4], [5, 6]]), 6, temperature=0)
    assert batch[1].tolist() == model.generate([5, 6], 6, temperature=0).tolist()


def test_determinism_and_seeds(model):
    a, b = model.generate([1], 12, seed=7), model.generate([1], 12, seed=7)
    assert np.array_equal(a, b)
    assert len({tuple(model.generate([1], 12, seed=s)) for s in range(8)}) > 1


class Counting(Module):
    """A stand-in model: at every position the likeliest next token is (sum of the tokens seen) % 9."""
    vocab_size, max_seq_len = 9, 5

    def forward(self, ids):
        ids = np.asarray(ids)
        assert ids.ndim == 2 and ids.shape[1] <= 5, \
            f"generate gave the model {ids.shape[1]} tokens: crop the context to its last max_seq_len = 5"
        return Tensor(np.eye(9, dtype=np.float32)[np.cumsum(ids, axis=1) % 9] * 5)


def test_greedy_follows_the_last_position_and_context_is_cropped(model):
    prompt = [1, 2, 3, 4, 5, 6, 7]  # longer than max_seq_len = 5: cropped to the last 5
    want, first = list(prompt), list(prompt)
    for _ in range(6):
        want.append(sum(want[-5:]) % 9)
        first.append(first[-5:][0] % 9)
    counted = generate(Counting(), prompt, 6, temperature=0).tolist()
    assert counted == want, (
        f"temperature 0, a model predicting (sum of its context) % 9: got {counted}, expected {want}"
        + (" (the first position's logits were used: the next token comes from the last position)"
           if counted == first else ""))
    out = model.generate(prompt, 6, temperature=0)
    cropped = model.generate(prompt[-5:], 6, temperature=0)
    assert out[2:].tolist() == cropped.tolist(), "only the last max_seq_len tokens matter"


def test_top_k_one_is_greedy_at_any_temperature(model):
    assert model.generate([2, 3], 8, temperature=5.0, top_k=1, seed=3).tolist() == \
        model.generate([2, 3], 8, temperature=0).tolist()


def test_generate_records_no_graph_and_restores_the_mode(model):
    model.train()
    before = [p.grad for p in model.parameters()]
    model.generate([1, 2], 3, seed=0)
    assert model.training and Config.grad_enabled
    assert [p.grad for p in model.parameters()] == before
    model.eval()
    model.generate([1, 2], 3, seed=0)
    assert not model.training


def test_mode_restored_after_an_error(model):
    model.train()
    raises(IndexError, lambda: model.generate([1, 99], 2), "99")
    assert model.training and Config.grad_enabled


def test_generate_errors(model):
    raises(ValueError, lambda: model.generate([], 3), "non-empty")
    raises(ValueError, lambda: model.generate(np.zeros((1, 1, 2), int), 3), "1-D")
    raises(ValueError, lambda: model.generate([1], -1), "max_new_tokens")
    raises(ValueError, lambda: model.generate([1], 2.5), "max_new_tokens")
    raises(ValueError, lambda: model.generate([1], 2, temperature=-1), "temperature")
    raises(ValueError, lambda: model.generate(np.array([1.5, 2.0]), 2), "whole", "1.5")
    raises(ValueError, lambda: model.generate(np.array([1.0, np.nan]), 2), "whole")
