"""Module 17: generate_windowed — every token from an allowed window, at most ~2 positions per token."""

import numpy as np
import pytest

from tinytorch.autograd import no_grad
from tinytorch.memoization import generate_cached, generate_windowed
from tinytorch.testing import raises
from tinytorch.transformers import GPT, sample_next


def _model(seed=5, vocab=13, window=8, layers=2):
    model = GPT(vocab, 16, layers, 2, window, rng=seed)
    rng = np.random.default_rng(seed + 1)
    for p in model.parameters():
        p.data[...] = rng.normal(size=p.shape) * 0.5
    return model.eval()


class _Replay(np.random.Generator):
    def __init__(self, draws):
        super().__init__(np.random.PCG64(0))
        self.draws = draws

    def random(self, size=None):
        return self.draws


def _check(model, prompt, n, min_context, **kwargs):
    """Run generate_windowed, then replay it: each token from an allowed window, work within budget."""
    attn, counted = model.blocks[0].attn, []

    def counting(x, mask=None, cache=None):
        counted.append(x.shape[1])
        return type(attn).forward(attn, x, mask=mask, cache=cache)

    attn.forward = counting
    try:
        got = generate_windowed(model, prompt, n, min_context, **kwargs)
    except Exception as err:
        pytest.fail(f"generate_windowed raised {type(err).__name__}: {err}")
    finally:
        del attn.forward
    prompt2d, got2d = np.atleast_2d(prompt), np.atleast_2d(got)
    assert got2d.shape == (prompt2d.shape[0], prompt2d.shape[1] + n) and np.ndim(got) == np.ndim(prompt)
    assert np.array_equal(got2d[:, :prompt2d.shape[1]], prompt2d), "the prompt comes first"
    S, temperature = model.max_seq_len, kwargs.get("temperature", 1.0)
    draws = np.random.default_rng(kwargs.get("seed"))
    for i in range(n):
        seq = got2d[:, :prompt2d.shape[1] + i]
        length = seq.shape[1]
        widths = [length] if length <= S else range(min_context, S + 1)
        u = draws.random(seq.shape[0]) if temperature != 0 else None
        options = []
        for w in widths:
            with no_grad():
                logits = model(seq[:, -w:]).data[:, -1]
            options.append(sample_next(logits, temperature, kwargs.get("top_k"), rng=_Replay(u)).tolist())
        token = got2d[:, length].tolist()
        allowed = "the whole sequence" if length <= S else f"the last w tokens, {min_context} <= w <= {S}"
        assert token in options, (f"new token {i} (length {length}, min_context {min_context}, {kwargs}): "
                                  f"{token} comes from no allowed window ({allowed}, read from position 0)")
    budget = min(prompt2d.shape[1], S) + S + 2 * n
    assert sum(counted) <= budget, (f"{n} tokens, prompt {prompt2d.shape[1]}, max_seq_len {S}: "
                                    f"{sum(counted)} positions of work (calls {counted}), budget {budget}: a "
                                    "reset that keeps m tokens costs m, so keep fewer than the whole window")
    assert len(counted) <= n, f"{len(counted)} model calls for {n} new tokens"
    return got


def _ruler(window=8):
    """A GPT whose greedy token is w - 1 when it reads a window of w tokens (positions 0..w-1)."""
    model = GPT(13, 16, 1, 2, window, rng=0)
    for name, p in model.named_parameters():
        p.data[...] = 1.0 if name.endswith("ln_f.weight") else 0.0
    model.position_embedding.weight.data[:, :window] = 10 * np.eye(window)
    model.head.weight.data[:window, :window] = np.eye(window)
    return model.eval()


@pytest.mark.parametrize("min_context, window", [(1, 8), (2, 8), (4, 8), (3, 12), (6, 12)])
def test_every_window_read_is_allowed(min_context, window):
    widths = generate_windowed(_ruler(window), np.array([0, 1, 2]), 40, min_context, temperature=0)[3:] + 1
    for i, w in enumerate(widths.tolist()):
        length = 3 + i
        allowed = [length] if length <= window else list(range(min_context, window + 1))
        assert w in allowed, (f"min_context {min_context}, max_seq_len {window}: new token {i} (sequence "
                              f"length {length}) was read from a window of {w} tokens, allowed {allowed}")


@pytest.mark.parametrize("min_context", [1, 2, 3, 4])
def test_greedy_long_runs(min_context):
    _check(_model(), np.array([3, 1, 4]), 40, min_context, temperature=0)


@pytest.mark.parametrize("seed, kwargs", [(0, {}), (3, {"temperature": 0.7}), (4, {"top_k": 3}),
                                          (8, {"temperature": 1.5, "top_k": 6})])
def test_sampled_runs(seed, kwargs):
    _check(_model(), np.array([2, 7, 1, 8]), 30, 2, seed=seed, **kwargs)


def test_batch_long_prompt_and_other_windows():
    _check(_model(), np.array([[3, 1, 4], [5, 9, 2]]), 25, 3, seed=1)
    _check(_model(), np.arange(15) % 13, 20, 4, temperature=0)
    _check(_model(window=5, seed=2), np.array([1, 2]), 30, 2, seed=3)
    _check(_model(window=12, seed=3, layers=1), np.array([0]), 50, 6, seed=9)


def test_identical_to_generate_cached_while_the_sequence_fits():
    model = _model()
    prompt = np.array([3, 1, 4])
    for kwargs in ({"temperature": 0}, {"seed": 2}, {"seed": 5, "top_k": 2}):
        assert generate_windowed(model, prompt, 5, 2, **kwargs).tolist() == \
            generate_cached(model, prompt, 5, **kwargs).tolist(), kwargs


def test_zero_tokens_mode_and_errors():
    model = _model().train()
    assert generate_windowed(model, np.array([1, 2]), 0, 2).tolist() == [1, 2]
    assert model.training, "the mode is restored"
    raises(ValueError, lambda: generate_windowed(model, np.array([1]), 2, 5), "min_context", "4")
    raises(ValueError, lambda: generate_windowed(model, np.array([1]), 2, 0), "min_context")
    raises(IndexError, lambda: generate_windowed(model, np.array([1, 13]), 0, 2), "13")
    raises(ValueError, lambda: generate_windowed(model, np.array([1]), -1, 2), "max_new_tokens")
    assert model.training
