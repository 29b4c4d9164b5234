"""Calibrator: min/max and percentiles over several batches, and the clipping trade-off."""

import numpy as np

from tinytorch.quantization import Calibrator, dequantize_int8, quantize
from tinytorch.tensor import Tensor
from tinytorch.testing import close, raises


def test_minmax_is_the_range_of_all_batches(rng):
    batches = [rng.normal(size=(16, 4)) * k for k in (1.0, 5.0, 0.2)]
    cal = Calibrator()
    for b in batches:
        cal.observe(Tensor(b))
    every = np.concatenate([b.ravel() for b in batches]).astype(np.float32)
    close(cal.range(), [every.min(), every.max()], what="min/max of every batch")
    assert cal.batches == 3 and cal.samples == [], "min/max keeps two numbers, not the values"


def test_percentiles_are_those_of_all_values_together(rng):
    batches = [rng.standard_t(3, size=(32, 8)), rng.standard_t(3, size=(10, 8)) + 2]
    every = np.concatenate([b.ravel() for b in batches])
    for p in (99.99, 99.0, 75.0):
        cal = Calibrator("percentile", percentile=p)
        for b in batches:
            cal.observe(b)
        close(cal.range(), np.percentile(every, [100 - p, p]), what=f"percentile {p}")


def test_qparams_of_the_range():
    cal = Calibrator()
    cal.observe(np.array([0.5, 3.0]))
    scale, zero = cal.qparams()
    close(scale, 3 / 255, what="range [0.5, 3] is extended to [0, 3]")
    assert zero == -128
    scale, zero = cal.qparams(symmetric=True)
    close(scale, 3 / 127, what="symmetric")
    assert zero == 0


def test_percentile_keeps_the_bulk_fine_when_a_few_values_are_huge(rng):
    """The trade-off, measured: clipping 0.1 % outliers makes the bulk's error much smaller, and
    the outliers' much larger."""
    bulk = rng.normal(size=10_000)
    x = np.concatenate([bulk, rng.uniform(50, 100, 10)])
    errors = {}
    for method in ("minmax", "percentile"):
        cal = Calibrator(method, percentile=99.8)
        cal.observe(x)
        scale, zero = cal.qparams()
        errors[method] = np.abs(dequantize_int8(quantize(x, scale, zero), scale, zero) - x)
    bulk_rms = {m: np.sqrt(np.mean(e[:10_000] ** 2)) for m, e in errors.items()}
    assert bulk_rms["percentile"] < bulk_rms["minmax"] / 5, f"bulk RMS error: {bulk_rms}"
    assert errors["percentile"][10_000:].max() > 40 > errors["minmax"].max(), \
        f"largest error: percentile {errors['percentile'].max():.1f}, minmax {errors['minmax'].max():.2f}"


def test_bad_use_is_named():
    raises(ValueError, lambda: Calibrator().range(), "no batch")
    raises(ValueError, lambda: Calibrator("kl"), "method")
    raises(ValueError, lambda: Calibrator("percentile", percentile=40), "percentile")
    raises(ValueError, lambda: Calibrator("percentile", percentile=101), "percentile")
    raises(ValueError, lambda: Calibrator().observe(np.array([1.0, np.nan])), "finite")
    raises(ValueError, lambda: Calibrator().observe(np.zeros(0)), "empty")
