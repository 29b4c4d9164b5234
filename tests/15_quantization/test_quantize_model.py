"""quantize_model: the walk, the copy, and the results on TinyDigits (bytes, accuracy)."""

import numpy as np
import pytest

from tinytorch.activations import ReLU
from tinytorch.layers import Dropout, Linear, Module, Sequential
from tinytorch.quantization import QuantizedLinear, model_nbytes, quantize_model
from tinytorch.tensor import Tensor
from tinytorch.testing import close, raises


def kinds(model):
    return [type(m).__name__ for m in model.modules()]


def test_calibration_data_as_array_tensor_or_list(rng):
    model = Sequential(Linear(6, 4, rng=1), ReLU(), Linear(4, 2, rng=2))
    x = rng.normal(size=(20, 6)).astype(np.float32)
    as_array = quantize_model(model, x)
    as_tensor = quantize_model(model, Tensor(x))
    as_list = quantize_model(model, [x[:7], Tensor(x[7:])])
    for other in (as_tensor, as_list):
        for a, b in zip(as_array.layers[::2], other.layers[::2]):
            assert (a.input_scale, a.input_zero_point) == (b.input_scale, b.input_zero_point), \
                "the same samples, however batched, calibrate the same ranges"
    raises(ValueError, lambda: quantize_model(model, []), "empty")
    raises(TypeError, lambda: quantize_model(lambda v: v, x), "Module")


def test_calibration_data_as_dataloader_or_batch_pairs(rng):
    """What a student has at hand: a DataLoader, or (inputs, labels) pairs; the labels are ignored."""
    dataloader = pytest.importorskip("tinytorch.dataloader")
    model = Sequential(Linear(6, 4, rng=1), ReLU(), Linear(4, 2, rng=2))
    x = rng.normal(size=(20, 6)).astype(np.float32)
    y = np.arange(20) % 2
    as_array = quantize_model(model, x)
    loader = dataloader.DataLoader(dataloader.TensorDataset(x, y), batch_size=8, shuffle=True, seed=0)
    for data in (loader, [(x[:8], y[:8]), (Tensor(x[8:]), Tensor(y[8:]))], iter([x[:5], x[5:]])):
        other = quantize_model(model, data)
        for a, b in zip(as_array.layers[::2], other.layers[::2]):
            assert (a.input_scale, a.input_zero_point) == (b.input_scale, b.input_zero_point), \
                type(data).__name__
    raises(ValueError, lambda: quantize_model(model, iter([])), "empty")


@pytest.mark.parametrize("data, words", [
    (None, ("calibration_data", "NoneType")), ("abc", ("calibration_data", "str")),
    ({"x": 1}, ("calibration_data", "dict")),
    ([np.ones((2, 6)), np.array(["a", "b"])], ("batch 1", "numbers"))])
def test_bad_calibration_data_is_named(data, words):
    model = Sequential(Linear(6, 4, rng=1), ReLU(), Linear(4, 2, rng=2))
    raises(TypeError, lambda: quantize_model(model, data), *words)


def test_result_is_in_eval_mode_even_for_a_bare_linear(rng):
    x = rng.normal(size=(5, 3)).astype(np.float32)
    single = quantize_model(Linear(3, 2, rng=1), x)
    assert isinstance(single, QuantizedLinear), type(single).__name__
    assert not single.training, "a bare Linear's copy is in eval mode too"


def test_per_channel_reaches_every_linear(rng):
    x = rng.normal(size=(8, 3)).astype(np.float32)
    model = Sequential(Linear(3, 5, rng=4), ReLU(), Linear(5, 4, rng=5))
    for per_channel in (True, False):
        quantized = quantize_model(model, x, per_channel=per_channel)
        scales = [np.unique(m.weight_scale).size for m in quantized.modules()
                  if isinstance(m, QuantizedLinear)]
        assert scales == ([5, 4] if per_channel else [1, 1]), \
            f"per_channel={per_channel}: distinct weight scales per layer {scales}"


def test_calibration_runs_in_evaluation_mode_with_one_calibrator_per_linear(rng):
    x = np.abs(rng.normal(size=(64, 4))).astype(np.float32) + 1.0  # positive inputs: zero point -128
    first, second = Linear(4, 6, rng=2), Linear(6, 3, rng=3)
    first.weight.data[:] = np.abs(first.weight.data)  # positive hidden values: ReLU keeps them all
    model = Sequential(first, ReLU(), Dropout(0.5, rng=0), second).train()
    q = quantize_model(model, x)
    hidden = np.maximum(x @ first.weight.data + first.bias.data, 0)  # the Dropout is off in evaluation mode
    close(q.layers[0].input_scale, (x.max() - 0.0) / 255, rtol=1e-5,
          what="first Linear: its own inputs' range (one Calibrator per Linear, not one shared)")
    close(q.layers[3].input_scale, (hidden.max() - 0.0) / 255, rtol=1e-5,
          what="second Linear: calibrated on the hidden values with the Dropout off (evaluation mode)")
    assert model.training, "quantize_model leaves the float model's mode alone"


def test_nested_lists_dicts_and_ties():
    class Net(Module):
        def __init__(self):
            super().__init__()
            self.shared = Linear(4, 4, rng=3)
            self.blocks = [Sequential(self.shared, ReLU()), Sequential(Linear(4, 4, rng=4), ReLU())]
            self.heads = {"a": Linear(4, 2, rng=5), "b": self.shared}

        def forward(self, x):
            for stage in self.blocks:
                x = stage(x)
            return self.heads["a"](x) + self.heads["b"](x)[..., :2]

    net = Net()
    x = np.random.default_rng(1).normal(size=(9, 4)).astype(np.float32)
    q = quantize_model(net, x)
    assert "Linear" not in kinds(q) and kinds(q).count("QuantizedLinear") == 3, kinds(q)
    assert q.shared is q.blocks[0].layers[0] is q.heads["b"], "a tied layer stays one object"
    assert kinds(net).count("Linear") == 3, "the float model keeps its layers"
    close(q(Tensor(x)), net(Tensor(x)), atol=0.15,
          what="nested model output (the tied layer is calibrated on both uses)")


def test_tuple_of_layers_is_refused():
    class Frozen(Module):
        def __init__(self):
            super().__init__()
            self.pair = (Linear(2, 2, rng=6), ReLU())

        def forward(self, x):
            return self.pair[1](self.pair[0](x))

    raises(TypeError, lambda: quantize_model(Frozen(), np.ones((2, 2), np.float32)), "tuple", "list")


def test_a_linear_never_called_in_calibration_is_named():
    class Unused(Module):
        def __init__(self):
            super().__init__()
            self.used, self.spare = Linear(3, 3, rng=7), Linear(3, 3, rng=8)

        def forward(self, x):
            return self.used(x)

    raises(ValueError, lambda: quantize_model(Unused(), np.ones((2, 3), np.float32)), "no batch")


def test_the_float_model_is_untouched(digits_mlp, digits):
    x = digits.x_test.reshape(-1, 64)
    before_out = digits_mlp(Tensor(x)).data.copy()
    before_state = digits_mlp.state_dict()
    quantize_model(digits_mlp, digits.x_train[:64].reshape(-1, 64))
    assert np.array_equal(digits_mlp(Tensor(x)).data, before_out)
    assert all(np.array_equal(v, before_state[k]) for k, v in digits_mlp.state_dict().items())
    assert kinds(digits_mlp).count("Linear") == 3


def test_digits_mlp_four_times_smaller_same_accuracy(digits_mlp, digits, acc):
    """The issue's result for the MLP: ~4x fewer bytes, >= 99% of the float accuracy, calibration
    on 256 training images only."""
    x_test = digits.x_test.reshape(-1, 64)
    quantized = quantize_model(digits_mlp, digits.x_train[:256].reshape(-1, 64))
    float_acc, int8_acc = acc(digits_mlp, x_test, digits.y_test), acc(quantized, x_test, digits.y_test)
    assert float_acc > 0.93, f"float MLP accuracy {float_acc:.2%}"
    assert int8_acc >= 0.99 * float_acc, f"int8 {int8_acc:.2%} < 99% of float {float_acc:.2%}"
    weights_float = sum(m.weight.data.nbytes for m in digits_mlp.modules() if isinstance(m, Linear))
    weights_int8 = sum(m.weight_q.nbytes + m.weight_scale.nbytes for m in quantized.modules()
                       if isinstance(m, QuantizedLinear))
    assert weights_float / weights_int8 > 3.75, f"weight matrices {weights_float} -> {weights_int8} bytes"
    assert model_nbytes(digits_mlp) / model_nbytes(quantized) > 3.6, \
        f"whole model {model_nbytes(digits_mlp)} -> {model_nbytes(quantized)} bytes"


@pytest.mark.parametrize("options", [{"per_channel": False}, {"method": "percentile", "percentile": 99.99}])
def test_digits_mlp_variants_keep_accuracy(digits_mlp, digits, acc, options):
    x_test = digits.x_test.reshape(-1, 64)
    quantized = quantize_model(digits_mlp, digits.x_train[:256].reshape(-1, 64), **options)
    float_acc, int8_acc = acc(digits_mlp, x_test, digits.y_test), acc(quantized, x_test, digits.y_test)
    assert int8_acc >= 0.99 * float_acc, f"{options}: int8 {int8_acc:.2%} vs float {float_acc:.2%}"


def test_digits_cnn_linear_layers_quantized(digits_cnn, digits, acc):
    """The CNN: its Linear layers become int8 (4x smaller), its convolution stays float, and the
    accuracy stays within 99% of the float model's."""
    x_test = digits.x_test[:, None]
    quantized = quantize_model(digits_cnn, digits.x_train[:256, None])
    assert kinds(quantized).count("QuantizedLinear") == 2 and "Conv2d" in kinds(quantized), kinds(quantized)
    float_acc, int8_acc = acc(digits_cnn, x_test, digits.y_test), acc(quantized, x_test, digits.y_test)
    assert float_acc > 0.9, f"float CNN accuracy {float_acc:.2%}"
    assert int8_acc >= 0.99 * float_acc, f"int8 {int8_acc:.2%} < 99% of float {float_acc:.2%}"
    linear_float = sum(p.data.nbytes for m in digits_cnn.modules() if isinstance(m, Linear)
                       for p in m.parameters())
    linear_int8 = sum(m.nbytes for m in quantized.modules() if isinstance(m, QuantizedLinear))
    assert linear_float / linear_int8 > 3.5, f"Linear layers {linear_float} -> {linear_int8} bytes"
    conv_bytes = model_nbytes(digits_cnn) - linear_float
    assert model_nbytes(quantized) == conv_bytes + linear_int8, \
        "the convolution's float32 bytes are unchanged"


def test_a_tiny_gpt_quantizes_every_projection():
    transformers = pytest.importorskip("tinytorch.transformers")
    gpt = transformers.GPT(vocab_size=11, embed_dim=16, num_layers=2, num_heads=2, max_seq_len=8, rng=0)
    ids = np.random.default_rng(2).integers(0, 11, size=(4, 8))
    q = quantize_model(gpt, [ids])
    n_linear = kinds(gpt).count("Linear")
    assert n_linear >= 2 * 6 + 1 and kinds(q).count("QuantizedLinear") == n_linear, (kinds(gpt), kinds(q))
    logits, logits_q = gpt(ids).data, q(ids).data
    close(logits_q, logits, atol=0.05 * np.abs(logits).max(), what="int8 GPT logits")
