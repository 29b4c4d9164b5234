"""Module 17: forward_cached and generate_cached against the uncached model of module 13."""

import numpy as np
import pytest

from tinytorch.autograd import no_grad
from tinytorch.memoization import forward_cached, generate_cached, make_caches
from tinytorch.tensor import Tensor
from tinytorch.testing import close, raises
from tinytorch.transformers import GPT


def _confident(model, seed, scale=0.5):
    rng = np.random.default_rng(seed)
    for p in model.parameters():
        p.data[...] = rng.normal(size=p.shape) * scale
    return model


def test_each_block_appends_to_its_own_cache():
    model = _confident(GPT(11, 16, 2, 4, 12, rng=3), 4, scale=0.3).eval()
    ids = np.random.default_rng(4).integers(0, 11, size=(2, 6))
    caches = make_caches(model, 2)
    try:
        forward_cached(model, ids[:, :4], caches)
    except Exception as err:
        lengths = [c.length for c in caches]
        why = (" - one cache received every block's keys: each block needs its own" if max(lengths) > 4
               else " - the mask is True where a query may attend" if "allows no key" in str(err)
               else "")
        pytest.fail(f"a prompt of 4 through empty caches raised {type(err).__name__}: {err}; the caches hold "
                    f"{lengths}{why}")
    assert [c.length for c in caches] == [4, 4], \
        f"after a prompt of 4 the caches hold {[c.length for c in caches]}: each block appends to its own"
    with no_grad():
        full = model(ids).data
    step = forward_cached(model, ids[:, 4:5], caches).data
    close(step, full[:, 4:5], atol=1e-5, what="token 4 after a prompt of 4 sits at position 4: the "
          "positional embedding's offset is the number of positions the caches held before the call")
    forward_cached(model, ids[:, 5:6], caches)
    lengths = [c.length for c in caches]
    assert lengths == [6, 6], f"two more tokens: the caches hold {lengths}"


def check_prompt_pass(forward) -> None:
    """A prompt of 4 through empty caches: model.ln_f is applied, and the logits of positions 0..2 do not
    change when token 3 does (the causal mask); a missing final norm or mask is named."""
    model = _confident(GPT(11, 16, 2, 4, 12, rng=3), 4, scale=0.3).eval()
    ids = np.random.default_rng(4).integers(0, 11, size=(2, 4))
    calls = []
    model.ln_f.forward = lambda x: calls.append(x.shape) or type(model.ln_f).forward(model.ln_f, x)
    try:
        first = forward(model, ids, make_caches(model, 2)).data
    finally:
        vars(model.ln_f).pop("forward", None)
    assert calls, "forward_cached never called model.ln_f: the final LayerNorm comes before the head (GPT)"
    other = ids.copy()
    other[:, 3] = (other[:, 3] + 1) % 11
    changed = np.abs(forward(model, other, make_caches(model, 2)).data[:, :3] - first[:, :3]).max()
    assert changed < 1e-6, (f"changing token 3 of a prompt of 4 changed the logits of positions 0..2 (by up "
                            f"to {changed:.3g}): a call of T > 1 new tokens needs the causal mask")


def _without_final_norm(model, ids, caches):
    """Planted: the head reads the last block's output directly."""
    model.ln_f.forward = lambda x: x
    return forward_cached(model, ids, caches)


def _without_mask(model, ids, caches):
    """Planted: as without a mask, every position of the call reads the call's last token."""
    out = forward_cached(model, ids, caches)
    return Tensor(out.data + 0.1 * ids[:, -1:, None])


def test_the_prompt_pass_is_causal_and_normed():
    check_prompt_pass(forward_cached)


@pytest.mark.parametrize("planted, fragment", [(_without_final_norm, "ln_f"), (_without_mask, "causal mask")])
def test_a_missing_norm_or_mask_is_named(planted, fragment):
    raises(AssertionError, lambda: check_prompt_pass(planted), fragment)


def check_first_token(generate) -> None:
    """Greedy, one new token after each of two prompts: the argmax of the last prompt position's logits; a
    token taken from an earlier position is named."""
    model = _confident(GPT(13, 16, 2, 2, 8, rng=5), 6)
    starts = np.array([[1, 2, 3, 4, 5], [6, 7, 8, 9, 10]])
    with no_grad():
        greedy = model(starts).data.argmax(axis=-1)
    first = generate(model, starts, 1, temperature=0)[:, -1]
    for row in range(2):
        earlier = np.flatnonzero(greedy[row, :-1] == first[row])
        assert first[row] == greedy[row, -1], \
            (f"greedy, 1 new token after {starts[row].tolist()}: expected {greedy[row, -1]}, the argmax of "
             f"the last prompt position's logits, got {first[row]}"
             + (f", the argmax after position {earlier[0]}" if earlier.size else ""))


def _from_the_first_position(model, ids, new, temperature):
    """Planted: the first token sampled (greedy) from the logits of prompt position 0."""
    with no_grad():
        return np.concatenate([ids, model(ids).data[:, 0].argmax(axis=-1)[:, None]], axis=1)


def test_the_first_token_follows_the_last_prompt_position():
    check_first_token(generate_cached)


def test_a_first_token_from_position_0_is_named():
    raises(AssertionError, lambda: check_first_token(_from_the_first_position), "last prompt position",
           "after position 0")


def test_chunks_after_cached_positions():
    model = _confident(GPT(11, 16, 2, 4, 12, rng=3), 5, scale=0.3).eval()
    ids = np.random.default_rng(5).integers(0, 11, size=(2, 7))
    with no_grad():
        full = model(ids).data
    caches = make_caches(model, 2)
    try:
        parts = [forward_cached(model, ids[:, a:b], caches).data for a, b in ((0, 2), (2, 5), (5, 7))]
    except Exception as err:
        pytest.fail(f"chunks of 2, 3, 2 tokens: forward_cached raised {type(err).__name__}: {err}. A chunk "
                    "of T new tokens after L cached ones: T queries, L + T keys, a mask of (T, L + T)")
    close(np.concatenate(parts, axis=1), full, atol=1e-5, what="chunks of 2, 3, 2 tokens")


def _count_positions(model):
    """Wrap the first block's attention: returns the list of query counts of every model call."""
    attn, counted = model.blocks[0].attn, []

    def counting(x, mask=None, cache=None):
        counted.append(x.shape[1])
        return type(attn).forward(attn, x, mask=mask, cache=cache)

    attn.forward = counting
    return counted


@pytest.mark.parametrize("prompt_len, new, window", [(3, 5, 16), (4, 12, 16), (2, 9, 6), (9, 4, 6)])
def test_generate_cached_does_one_position_of_work_per_token(prompt_len, new, window):
    """The work of section 1: one prefill, one position per step; past max_seq_len a re-prefill."""
    model = _confident(GPT(9, 16, 2, 2, window, rng=3), 7)
    counted = _count_positions(model)
    prompt = np.arange(prompt_len) % 9
    out = generate_cached(model, prompt, new, seed=0)
    counted = list(counted)  # what generate_cached did (model.generate below runs the model too)
    plain = model.generate(prompt, new, seed=0)
    differ = np.flatnonzero(out != plain)
    assert differ.size == 0, \
        (f"prompt {prompt_len}, {new} new tokens, max_seq_len {window}: cached and uncached tokens differ "
         f"first at "
         f"position {differ[0] if differ.size else -1} (the sequence is {len(plain)} long): cached "
         f"{out.tolist()}, uncached {plain.tolist()}"
         + (" - past max_seq_len each step re-prefills the last max_seq_len tokens" if differ.size
            and differ[0] > window else ""))
    want, length = [min(prompt_len, window)], min(prompt_len, window)
    for _ in range(new - 1):
        want.append(1 if length < window else window)
        length = length + 1 if length < window else window
    why = ""
    if len(counted) > len(want):
        why = " - the model runs once per new token, not after the last one"
    elif sum(counted) > sum(want):
        why = " - the whole window is re-prefilled at steps where the caches still have room"
    assert counted == want, (f"prompt {prompt_len}, {new} new tokens, max_seq_len {window}: the model "
                             f"processed {counted} positions per call, expected {want}{why}")


@pytest.mark.parametrize("ids, new", [([1, 99], 0), ([1, 99], 2), ([[1, 2], [3, -1]], 0), ([1.5, 2.0], 1),
                                      ([True, False], 1), (np.zeros((1, 1, 2), int), 1), ([], 1), ([1], -1),
                                      ([1], 2.5)])
def test_given_checks_are_those_of_generate(ids, new):
    """The same error (type and message, but the function's name) as module 13's generate."""
    model = GPT(9, 16, 1, 2, 6, rng=0)
    errors = []
    for fn in (model.generate, lambda i, n: generate_cached(model, i, n)):
        try:
            fn(np.asarray(ids) if not isinstance(ids, list) or ids else np.array([], int), new)
            errors.append(None)
        except Exception as err:
            errors.append((type(err).__name__, str(err).replace("generate_cached", "generate")))
    assert errors[1] == errors[0], f"ids {ids}, {new} new tokens: generate_cached gives {errors[1]}, " \
        f"module 13's generate gives {errors[0]}"


@pytest.fixture(scope="module")
def big():
    """The size the module measures: 4 blocks of D = 128 (GPT-2 initialization)."""
    return GPT(65, 128, 4, 4, 64, rng=0).eval()


def test_cached_logits_within_1e5_of_uncached_at_every_step(big):
    ids = np.random.default_rng(0).integers(0, 65, size=(2, 40))
    with no_grad():
        full = big(ids).data
    caches = make_caches(big, 2)
    logits = [forward_cached(big, ids[:, :8], caches).data]
    logits += [forward_cached(big, ids[:, t:t + 1], caches).data for t in range(8, 40)]
    close(np.concatenate(logits, axis=1), full, atol=1e-5)


def test_cached_logits_within_1e5_with_large_weights():
    model = _confident(GPT(20, 32, 3, 4, 16, rng=1), 2, scale=0.3).eval()
    ids = np.random.default_rng(1).integers(0, 20, size=(3, 16))
    with no_grad():
        full = model(ids).data
    caches = make_caches(model, 3)
    out = [forward_cached(model, ids[:, a:b], caches).data for a, b in ((0, 1), (1, 6), (6, 7), (7, 16))]
    close(np.concatenate(out, axis=1), full, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kwargs", [{"seed": 0}, {"seed": 5, "temperature": 0.8, "top_k": 10},
                                    {"temperature": 0}, {"seed": 9, "top_k": 1},
                                    {"seed": 4, "temperature": 2.0}])
def test_same_tokens_as_generate(big, kwargs):
    prompt = np.random.default_rng(2).integers(0, 65, size=12)
    assert generate_cached(big, prompt, 30, **kwargs).tolist() == big.generate(prompt, 30, **kwargs).tolist()


@pytest.mark.parametrize("blocks", [2, 1])
def test_same_tokens_past_the_context_limit_with_a_batch(blocks):
    model = _confident(GPT(9, 16, blocks, 2, 6, rng=3), 4)
    prompt = np.array([[1, 2, 3], [4, 5, 6]])
    for seed in range(4 if blocks == 2 else 1):
        cached = generate_cached(model, prompt, 15, seed=seed)
        assert cached.shape == (2, 18)
        assert cached.tolist() == model.generate(prompt, 15, seed=seed).tolist()


def test_prompt_exactly_max_seq_len_and_longer():
    model = _confident(GPT(9, 16, 2, 2, 6, rng=3), 5)
    for length in (5, 6, 7, 13):
        prompt = np.arange(length) % 9
        cached = generate_cached(model, prompt, 4, seed=1)
        assert cached.tolist() == model.generate(prompt, 4, seed=1).tolist(), length


def test_one_token_and_zero_tokens():
    model = _confident(GPT(9, 16, 1, 2, 6, rng=3), 6)
    prompt = np.array([2, 7])
    assert generate_cached(model, prompt, 1, seed=0).tolist() == model.generate(prompt, 1, seed=0).tolist()
    out = generate_cached(model, prompt, 0)
    assert out.tolist() == [2, 7] and out.dtype == np.int64


def test_work_done_is_one_position_per_step_before_the_limit():
    """Counting the positions each block's cache receives: prompt + new - 1 without a crop."""
    from tinytorch.memoization import KVCache

    written = []

    class Counting(KVCache):
        def update(self, k, v):
            written.append(k.shape[2])
            return super().update(k, v)

    model = GPT(9, 16, 2, 2, 32, rng=0)
    caches = [Counting(1, 2, 32, 8) for _ in model.blocks]
    forward_cached(model, np.array([[1, 2, 3, 4]]), caches)
    for t in range(5):
        forward_cached(model, np.array([[t]]), caches)
    assert written == [4, 4] + [1, 1] * 5


def test_errors():
    model = GPT(9, 16, 2, 2, 6, rng=0)
    raises(ValueError, lambda: generate_cached(model, np.array([]), 2), "non-empty")
    raises(ValueError, lambda: generate_cached(model, np.array([1, 2]), -1), "max_new_tokens")
    raises(ValueError, lambda: generate_cached(model, np.array([1, 2]), 1.5), "max_new_tokens")
    raises(IndexError, lambda: generate_cached(model, np.array([1, 99]), 2), "99")
    caches = make_caches(model, 1)
    raises(ValueError, lambda: forward_cached(model, np.array([1, 2]), caches), "(B, T)")
    raises(ValueError, lambda: forward_cached(model, np.array([[1, 2]]), caches[:1]), "KVCache")
    caches[0].update(np.zeros((1, 2, 1, 8)), np.zeros((1, 2, 1, 8)))
    raises(ValueError, lambda: forward_cached(model, np.array([[1]]), caches), "different numbers")
    full = make_caches(model, 1)
    forward_cached(model, np.arange(6)[None], full)
    raises(ValueError, lambda: forward_cached(model, np.array([[1]]), full), "max_seq_len")


def test_training_mode_restored_even_after_an_error():
    model = GPT(9, 16, 1, 2, 6, rng=0).train()
    raises(IndexError, lambda: generate_cached(model, np.array([1, 50]), 2), "50")
    assert model.training


def test_inputs_that_do_not_belong_together_are_refused_before_any_cache_changes():
    model = GPT(9, 16, 2, 2, 6, rng=0)
    raises(ValueError, lambda: generate_cached(model, np.array([1.0, 2.5]), 2), "whole", "2.5", "(1,)")
    raises(ValueError, lambda: generate_cached(model, np.array([[1.0, np.nan]]), 2), "whole", "(0, 1)")
    raises(TypeError, lambda: generate_cached(model, np.array([True, False]), 2), "integers")
    assert generate_cached(model, np.array([1.0, 2.0]), 2, seed=0).tolist() == \
        generate_cached(model, np.array([1, 2]), 2, seed=0).tolist(), "whole-number floats are token ids"
    ids, caches = np.array([[1, 2]]), make_caches(model, 2)
    raises(ValueError, lambda: forward_cached(model, ids, caches), "batch of 1", "batch_size = 2")
    other = make_caches(GPT(9, 16, 2, 4, 6, rng=0), 1)
    raises(ValueError, lambda: forward_cached(model, ids, other), "make_caches", "2 heads of 8")
    raises(ValueError, lambda: forward_cached(model, ids, None), "2 KVCache", "NoneType")
    short = make_caches(model, 1, max_len=3)
    forward_cached(model, ids, short)
    raises(ValueError, lambda: forward_cached(model, ids, short), "2 new positions", "max_len = 3")
    assert [c.length for c in short] == [2, 2], "a refused call leaves every cache as it was"
    raises(ValueError, lambda: forward_cached(model, np.array([[1.5]]), make_caches(model, 1)), "1.5")
