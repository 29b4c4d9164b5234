"""Module 20: make, save, load and verify submissions on the real digits-MLP task; check_claims alone."""

import json
import os
from fractions import Fraction

import numpy as np
import pytest

from tinytorch.capstone import (
    QUALITY_TOLERANCE,
    Check,
    SubmissionError,
    check_claims,
    load_submission,
    make_submission,
    save_submission,
    validate_submission,
    verify_submission,
)
from tinytorch.testing import raises

NAMES = ["quality", "size_bytes", "target", "baseline quality", "baseline size_bytes"]


def test_an_honest_submission_is_valid_smaller_and_verifies(honest, fast):
    assert validate_submission(honest) == []
    assert honest["task"] == "digits-mlp" and honest["student"] == "pytest"
    assert honest["claims"]["size_bytes"] < honest["baseline"]["size_bytes"] / 3
    assert honest["claims"]["quality"] >= 0.99 * honest["baseline"]["quality"]
    for key in ("cpu", "numpy", "timestamp"):
        assert key in honest["environment"]
    result = verify_submission(honest, **fast)
    assert result.passed and [c.name for c in result.checks] == NAMES, result.report()
    assert result.measured["quality"] == honest["claims"]["quality"]
    assert result.measured["size_bytes"] == honest["claims"]["size_bytes"]
    assert result.reference["size_bytes"] == honest["baseline"]["size_bytes"]
    report = result.report()
    assert "RESULT: VERIFIED" in report and "not checked" in report


@pytest.mark.parametrize("part,key,change,fails", [
    ("claims", "quality", 1 / 360, ["quality"]),
    ("claims", "size_bytes", -1, ["size_bytes"]),
    ("baseline", "quality", -1 / 360, ["baseline quality"]),
    ("baseline", "size_bytes", 1000, ["baseline size_bytes"]),
    ("claims", "latency_p90", -0.9, []),  # claimed 10x faster than measured: shown, not judged
    ("baseline", "throughput", 1e9, []),
])
def test_tampering_fails_exactly_the_tampered_deterministic_claim(honest, fast, part, key, change, fails):
    if key == "latency_p90":
        honest[part][key] *= 1 + change
    else:
        honest[part][key] = type(honest[part][key])(honest[part][key] + change)
    honest[part]["quality"] = min(1.0, honest[part]["quality"])
    result = verify_submission(honest, **fast)
    assert [c.name for c in result.checks if not c.passed] == fails, result.report()


def test_a_recipe_that_loses_too_much_accuracy_is_rejected_on_the_target(fast):
    submission = make_submission("digits-mlp", {"prune": {"sparsity": 0.95, "scope": "layer"}}, **fast)
    assert submission["claims"]["quality"] < 0.99 * submission["baseline"]["quality"]
    result = verify_submission(submission, **fast)
    assert [c.name for c in result.checks if not c.passed] == ["target"], result.report()
    assert "REJECTED" in result.report()


def test_a_submission_failing_the_schema_is_not_measured(honest):
    honest["claims"]["quality"] = "excellent"
    result = verify_submission(honest)
    assert not result.passed and result.measured is None
    assert [c.name for c in result.checks] == ["schema"] and "claims.quality" in str(result.checks[0])


def test_make_submission_refuses_a_bad_recipe_before_measuring():
    raises(ValueError, lambda: make_submission("digits-mlp", {"prune": {"sparsity": 1.5, "scope": "global"}}),
           "recipe.prune.sparsity")
    raises(ValueError, lambda: make_submission("speech", {}), "speech")


def test_save_and_load_round_trip_atomically(honest, tmp_path):
    path = save_submission(honest, tmp_path / "deep" / "sub.json")
    assert load_submission(path) == json.loads(json.dumps(honest))
    assert sorted(os.listdir(path.parent)) == ["sub.json"], "no temporary file is left behind"
    honest["student"] = "second"
    save_submission(honest, path)
    assert load_submission(path)["student"] == "second"


def test_an_invalid_submission_is_never_saved(honest, tmp_path):
    honest["task"] = "nope"
    raises(ValueError, lambda: save_submission(honest, tmp_path / "x.json"), "task")
    assert not (tmp_path / "x.json").exists() and os.listdir(tmp_path) == []


@pytest.mark.parametrize("content,words", [
    (None, ["not found"]),
    (b"", ["not valid json"]),
    (b"{\"task\": ", ["not valid json", "line 1"]),
    (b"\xff\xfe{}", ["utf-8", "byte 0"]),
    (b"[1, 2]", ["not a valid submission", "object"]),
    (b"{\"schema_version\": 2}", ["schema_version", "task: missing"]),
])
def test_load_refuses_damaged_files_saying_why(tmp_path, content, words):
    path = tmp_path / "sub.json"
    if content is not None:
        path.write_bytes(content)
    raises(SubmissionError, lambda: load_submission(path), str(path), *words)


def _sub(measured, reference):
    return {"claims": dict(measured), "baseline": dict(reference)}


M = {"quality": 0.9, "latency_p90": 1e-3, "throughput": 100.0, "size_bytes": 500}
R = {"quality": 0.905, "latency_p90": 5e-4, "throughput": 300.0, "size_bytes": 2000}


def test_check_claims_returns_five_named_checks_with_claimed_and_measured():
    checks = check_claims(_sub(M, R), M, R, 0.99)
    assert [c.name for c in checks] == NAMES and all(isinstance(c, Check) and c.passed for c in checks)
    assert [(c.claimed, c.measured) for c in checks] == [
        (0.9, 0.9), (500, 500), (pytest.approx(0.99 * 0.905), 0.9), (0.905, 0.905), (2000, 2000)]


TOL = QUALITY_TOLERANCE


@pytest.mark.parametrize("delta,ok", [(0.0, True), (TOL / 2, True), (-TOL / 2, True), (3 * TOL, False),
                                      (-3 * TOL, False), (1e-3, False)])
def test_quality_claims_are_equal_within_the_tolerance_on_both_sides(delta, ok):
    claimed = dict(M, quality=M["quality"] + delta)
    assert check_claims(_sub(claimed, R), M, R, 0.99)[0].passed is ok
    baseline = dict(R, quality=R["quality"] + delta)
    assert check_claims({"claims": M, "baseline": baseline}, M, R, 0.99)[3].passed is ok


def check_quality_tolerance(check) -> None:
    """Claimed qualities 1/1024, 3/4, 1 and 2 tolerances from the measured 0.5 (exact in floats): the first
    three agree, the last does not; exact equality, a relative tolerance, a bound left out are each named."""
    at, half = dict(M, quality=0.5), dict(R, quality=0.5)
    for fraction, ok, slip in ((Fraction(1, 1024), True, "compared exactly (==), where the contract gives a "
                                                         "tolerance"),
                               (Fraction(3, 4), True, "the tolerance taken relative to the value"),
                               (Fraction(1), True, "the bound itself left out (<, not <=)"),
                               (Fraction(2), False, "twice the tolerance is not within it")):
        shift = float(fraction) * TOL
        off = {"claims": dict(at, quality=0.5 + shift), "baseline": dict(half, quality=0.5 - shift)}
        checks = check(off, at, half, 0.5)
        got = [checks[0].passed, checks[3].passed]
        assert got == [ok, ok], (f"claimed qualities {fraction} x QUALITY_TOLERANCE from the measured 0.5: "
                                 f"quality and baseline quality passed {got}, expected {[ok, ok]}: {slip}")


def _exactly_equal(submission, measured, reference, target):
    """Planted: the quality checks compare exactly."""
    checks = check_claims(submission, measured, reference, target)
    for check, measurement in ((checks[0], measured), (checks[3], reference)):
        check.passed = check.claimed == measurement["quality"]
    return checks


def test_quality_agrees_within_the_absolute_tolerance_bound_included():
    check_quality_tolerance(check_claims)


def test_an_exact_comparison_of_qualities_is_named():
    raises(AssertionError, lambda: check_quality_tolerance(_exactly_equal), "1/1024", "compared exactly")


@pytest.mark.parametrize("delta", [-1, 1, -7, 1000])
def test_sizes_are_checked_for_equality_in_both_directions(delta):
    """Bytes are deterministic: a size claimed one byte larger than measured is as wrong as one smaller."""
    claims = dict(M, size_bytes=M["size_bytes"] + delta)
    baseline = dict(R, size_bytes=R["size_bytes"] + delta)
    failed = [c.name for c in check_claims(_sub(claims, baseline), M, R, 0.99) if not c.passed]
    assert failed == ["size_bytes", "baseline size_bytes"], \
        f"sizes claimed {delta:+d} bytes off the measurement: both size checks fail, failed {failed}"


@pytest.mark.parametrize("target", [0.5, 0.9, 0.99, 0.9945, 0.995, 0.999, 1.0])
def test_the_target_is_judged_on_the_measured_quality_not_the_claim(target):
    claimed_perfect = dict(M, quality=1.0)
    checks = check_claims({"claims": claimed_perfect, "baseline": R}, M, R, target)
    assert checks[2].passed is bool(M["quality"] >= target * R["quality"])
    assert not checks[0].passed


@pytest.mark.parametrize("claimed_baseline", [0.5, 0.9, 0.905, 1.0])
def test_the_threshold_comes_from_the_re_measured_reference_not_the_claimed_baseline(claimed_baseline):
    checks = check_claims({"claims": M, "baseline": dict(R, quality=claimed_baseline)}, M, R, 0.9945)
    assert checks[2].passed is False and checks[2].claimed == pytest.approx(0.9945 * R["quality"]), checks[2]
    assert checks[3].passed is (claimed_baseline == R["quality"])


def test_a_quality_one_float_below_the_threshold_misses_the_target():
    reference = dict(R, quality=0.5)
    below = dict(M, quality=float(np.nextafter(0.495, 0)))
    assert check_claims(_sub(below, reference), below, reference, 0.99)[2].passed is False
    at = dict(M, quality=0.495)
    assert check_claims(_sub(at, reference), at, reference, 0.99)[2].passed is True


def test_time_is_never_a_check():
    rng = np.random.default_rng(0)
    for _ in range(20):
        claimed = dict(M, latency_p90=float(rng.uniform(1e-9, 10)), throughput=float(rng.uniform(1e-3, 1e9)))
        baseline = dict(R, latency_p90=float(rng.uniform(1e-9, 10)), throughput=float(rng.uniform(1e-3, 1e9)))
        assert all(c.passed for c in check_claims({"claims": claimed, "baseline": baseline}, M, R, 0.99))
