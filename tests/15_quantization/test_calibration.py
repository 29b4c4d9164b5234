"""Calibrator: min/max and percentiles over several batches, and the clipping trade-off."""

import numpy as np
import pytest

from tinytorch.quantization import Calibrator, StreamingCalibrator, dequantize_int8, quantize
from tinytorch.tensor import Tensor
from tinytorch.testing import close, kept_bytes, raises


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


def check_range_grows(calibrator_class) -> None:
    """min and max (p = 100) of a batch in [-1, 1], then one in [-100, 100], must be about (-100, 100); a
    summary whose range the first batch fixed is named, whether it clips or crashes on the wider batch."""
    cal = calibrator_class(100.0, memory=1024)
    cal.observe(np.linspace(-1.0, 1.0, 1001))
    wider = "values beyond the first batch's range must be counted where they are: the summary has to grow"
    try:
        cal.observe(np.linspace(-100.0, 100.0, 1001))
    except (ValueError, IndexError) as error:
        raise AssertionError(f"observe raised {type(error).__name__} ({error}) on a batch in [-100, 100] "
                             f"after one in [-1, 1]: {wider}") from None
    lo, hi = cal.range()
    assert lo <= hi, f"p = 100: range() = ({lo:.4g}, {hi:.4g}), lo above hi"
    assert hi >= 99.5 and lo <= -99.5, \
        f"p = 100, [-1, 1] then [-100, 100]: range() = ({lo:.4g}, {hi:.4g}) (the first batch's); {wider}"


class _FixedByTheFirstBatch(StreamingCalibrator):
    """Planted: a histogram on the first batch's range; later values beyond it go into the end bins."""

    def observe(self, x):
        values = np.asarray(x, dtype=np.float64).ravel()
        if self.count == 0:
            self.edges = np.linspace(values.min(), values.max(), 1025)
            self.counts = np.zeros(1024, np.int64)
        self.counts += np.histogram(np.clip(values, self.edges[0], self.edges[-1]), self.edges)[0]
        self.count += values.size

    def range(self):
        below = np.cumsum(self.counts)
        centres = (self.edges[:-1] + self.edges[1:]) / 2
        at = [np.searchsorted(below, f * (self.count - 1), side="right") for f in (1 - self.percentile / 100,
                                                                                 self.percentile / 100)]
        return float(centres[at[0]]), float(centres[min(at[1], 1023)])


def test_the_range_grows_past_the_first_batch():
    check_range_grows(StreamingCalibrator)


def test_a_range_fixed_by_the_first_batch_is_named():
    raises(AssertionError, lambda: check_range_grows(_FixedByTheFirstBatch), "first batch", "grow")


@pytest.mark.parametrize("memory", [512, 2048])  # 512: the smallest the contract allows
@pytest.mark.parametrize("p", [99.99, 99.0, 90.0, 60.0, 100.0])
@pytest.mark.parametrize("data", ["normal", "drift", "one-sided", "heavy", "relu", "spiky"])
def test_streaming_calibrator_matches_the_exact_percentiles(p, data, memory):
    rng = np.random.default_rng(5)
    make = {
        "normal": lambda i: rng.normal(size=800),
        "drift": lambda i: rng.normal(size=800) * 1.1 ** i,
        "one-sided": lambda i: rng.uniform(-301, -300, size=800),
        "heavy": lambda i: rng.standard_t(1.5, size=800),
        "relu": lambda i: np.maximum(rng.normal(size=800), 0) if i else np.zeros(800),
        "spiky": lambda i: np.append(rng.normal(size=799), 80.0 * (-1) ** i),
    }[data]
    batches = [make(i) for i in range(60)]
    cal = StreamingCalibrator(p, memory=memory)
    for b in batches:
        cal.observe(b)
    every = np.sort(np.concatenate(batches))
    position = np.array([100 - p, p]) / 100 * (every.size - 1)
    below, above = every[np.floor(position).astype(int)], every[np.ceil(position).astype(int)]
    got = np.asarray(cal.range(), dtype=np.float64)
    off = np.maximum(below - got, 0) + np.maximum(got - above, 0)
    allowed = 0.005 * np.abs(every).max()
    assert np.all(off <= allowed), \
        f"{data}, p = {p}: got {got}, exact between {below} and {above}, allowed error {allowed:.3g}"
    assert cal.count == every.size


def test_streaming_calibrator_memory_is_bounded():
    rng = np.random.default_rng(6)
    cal = StreamingCalibrator(99.0, memory=512)
    for i in range(300):
        cal.observe(rng.normal(size=(10, 100)) * (1 + i / 50))
    assert kept_bytes(cal) <= 16 * 512 + 1024, f"300,000 values kept in {kept_bytes(cal):,} bytes"
    raises(ValueError, lambda: StreamingCalibrator().range(), "no batch")
    raises(ValueError, lambda: StreamingCalibrator(percentile=40), "percentile")
    raises(ValueError, lambda: StreamingCalibrator(memory=10), "memory")
    raises(ValueError, lambda: StreamingCalibrator(memory=256), ">= 512")
