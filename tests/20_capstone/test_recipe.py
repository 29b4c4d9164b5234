"""Module 20: apply_recipe on the suite's reference models: a copy, pruned then quantized as asked,
calibrated on training data; the KV-cache recipe generates the same tokens."""

import numpy as np
import pytest

from tinytorch.autograd import no_grad
from tinytorch.capstone import (
    CALIBRATION_SIZE,
    apply_recipe,
    calibration_data,
    generation_check,
    reference_model,
)
from tinytorch.compression import magnitude_prune, measure_sparsity
from tinytorch.datasets import load_tinydigits
from tinytorch.layers import Linear
from tinytorch.quantization import QuantizedLinear, model_nbytes, quantize_model
from tinytorch.testing import close, raises
from tinytorch.transformers import GPT

INT8 = {"method": "minmax", "per_channel": True}


@pytest.fixture(scope="module")
def mlp():
    return reference_model("digits-mlp")


def _state(model):
    return {name: p.data.copy() for name, p in model.named_parameters()}


def test_reference_model_hands_out_independent_copies(mlp):
    other = reference_model("digits-mlp")
    assert other is not mlp
    for (name, a), (_, b) in zip(mlp.named_parameters(), other.named_parameters()):
        assert a is not b and np.array_equal(a.data, b.data), name
    raises(ValueError, lambda: reference_model("mnist"), "mnist", "digits-mlp")


def test_calibration_data_is_training_images_shaped_like_the_task_inputs():
    from tinytorch.benchmarking import TASKS
    for task in ("digits-mlp", "digits-cnn"):
        data = calibration_data(task)
        one = np.asarray(getattr(TASKS[task].sample(1), "data", TASKS[task].sample(1)))
        assert data.shape == (CALIBRATION_SIZE,) + one.shape[1:]
        images = load_tinydigits().x_train[:CALIBRATION_SIZE]
        close(data.reshape(CALIBRATION_SIZE, 64), images.reshape(-1, 64), atol=0)


@pytest.mark.parametrize("sparsity", [0.0, 0.25, 0.5, 0.9])
@pytest.mark.parametrize("scope", ["global", "layer"])
def test_prune_matches_magnitude_prune_on_a_copy(mlp, sparsity, scope):
    before = _state(mlp)
    pruned = apply_recipe("digits-mlp", mlp, {"prune": {"sparsity": sparsity, "scope": scope}})
    expected = reference_model("digits-mlp")
    magnitude_prune(expected, sparsity, scope)
    for (name, a), (_, b) in zip(pruned.named_parameters(), expected.named_parameters()):
        close(a.data, b.data, atol=0, rtol=0, what=name)
    assert abs(measure_sparsity(pruned) - sparsity) < 1e-3
    for name, p in mlp.named_parameters():
        close(p.data, before[name], atol=0, rtol=0, what=f"the reference's {name} is untouched")


@pytest.mark.parametrize("method", ["minmax", "percentile"])
@pytest.mark.parametrize("per_channel", [True, False])
def test_quantize_is_quantize_model_calibrated_on_calibration_data(mlp, method, per_channel):
    x = load_tinydigits().x_test[:100].reshape(-1, 64)
    got = apply_recipe("digits-mlp", mlp, {"quantize": {"method": method, "per_channel": per_channel}})
    want = quantize_model(mlp, calibration_data("digits-mlp"), method, per_channel=per_channel)
    with no_grad():
        close(got(x), want(x).data, atol=0, rtol=0)
    assert not any(isinstance(m, Linear) for m in got.modules())
    assert model_nbytes(got) < model_nbytes(mlp) / 3.5


def test_prune_comes_before_quantize(mlp):
    x = load_tinydigits().x_test[:100].reshape(-1, 64)
    both = apply_recipe("digits-mlp", mlp, {"prune": {"sparsity": 0.5, "scope": "global"}, "quantize": INT8})
    pruned = reference_model("digits-mlp")
    magnitude_prune(pruned, 0.5, "global")
    want = quantize_model(pruned, calibration_data("digits-mlp"), "minmax", per_channel=True)
    with no_grad():
        close(both(x), want(x).data, atol=0, rtol=0, what="prune, calibrate on the pruned model, quantize")
    codes = np.concatenate([m.weight_q.ravel() for m in both.modules() if isinstance(m, QuantizedLinear)])
    assert np.mean(codes == 0) >= 0.5


def test_the_cnn_task_quantizes_its_linear_layers():
    cnn = reference_model("digits-cnn")
    recipe = {"quantize": INT8, "prune": {"sparsity": 0.1, "scope": "layer"}}
    optimized = apply_recipe("digits-cnn", cnn, recipe)
    assert any(isinstance(m, QuantizedLinear) for m in optimized.modules())
    assert not optimized.training


def test_the_result_is_in_eval_mode_even_from_a_training_model(mlp):
    mlp.train()
    try:
        assert not apply_recipe("digits-mlp", mlp, {}).training, "the optimized model is in evaluation mode"
        assert mlp.training, "apply_recipe must not switch the model it was given to evaluation mode"
    finally:
        mlp.eval()


def test_bad_arguments_raise_before_any_work(mlp):
    raises(TypeError, lambda: apply_recipe("digits-mlp", "model", {}), "Module")
    raises(ValueError, lambda: apply_recipe("digits-mlp", mlp, {"prune": {"sparsity": 0.5}}),
           "recipe.prune.scope")
    raises(ValueError, lambda: apply_recipe("digits-mlp", mlp, None), "recipe")
    raises(ValueError, lambda: apply_recipe("cifar", mlp, {}), "cifar")


@pytest.mark.parametrize("recipe", [{"kv_cache": True}, {"kv_cache": True, "quantize": INT8},
                                    {"kv_cache": True, "prune": {"sparsity": 0.3, "scope": "global"}}])
def test_kv_cache_recipes_generate_the_uncached_tokens_on_a_gpt(recipe):
    ids = calibration_data("char-gpt")  # the GPT reads the task's calibration sample: its vocabulary, length
    model = GPT(int(ids.max()) + 1, 16, 2, 2, ids.shape[1], rng=2)
    rng = np.random.default_rng(0)
    for p in model.parameters():
        p.data[...] = rng.normal(size=p.shape) * 0.5  # confident: a wrong cache shows as different tokens
    optimized = apply_recipe("char-gpt", model, recipe)
    check = generation_check(optimized, np.array([1, 5, 2, 7]), repeats=1)
    assert check["same"] and check["tokens"] == ids.shape[1] - 4
    assert len(check["cached_tokens"]) == ids.shape[1]
