"""largest_valid_sparsity: judged by behaviour (any search passes that keeps the budget, claims only
what it measured valid, and shows a failing measurement within `resolution` above its answer)."""

import numpy as np
import pytest

from tinytorch.capstone import TASKS, apply_recipe, largest_valid_sparsity, reference_model
from tinytorch.testing import raises


def run_search(valid, threshold=0.9, **options):
    """Search the curve that is 1.0 where valid(s), 0.5 elsewhere; check the contract; (answer, calls)."""
    budget, upper = options.get("budget", 8), options.get("upper", 0.95)
    resolution = options.get("resolution", 0.05)
    measured = []

    def quality_at(s):
        assert isinstance(s, float | int | np.floating) and not isinstance(s, bool) and 0 <= s <= upper, \
            f"quality_at({s!r}): a sparsity must be a number in [0, upper={upper}]"
        assert len(measured) < budget, (f"measurement {len(measured) + 1} exceeds the budget of {budget}; "
                                        f"measured so far: {[round(float(t), 4) for t, _ in measured]}")
        measured.append((float(s), 1.0 if valid(float(s)) else 0.5))
        return measured[-1][1]

    s = largest_valid_sparsity(quality_at, threshold, **options)
    shown = [(round(t, 4), q) for t, q in measured]
    assert s == 0.0 or any(t == s and q >= threshold for t, q in measured), \
        f"answer {s}: neither 0.0 nor a sparsity measured valid; measured (sparsity, quality): {shown}"
    assert s >= upper - resolution - 1e-12 or any(s < t <= s + resolution + 1e-12 and q < threshold
                                                  for t, q in measured), \
        (f"answer {s}: no measurement in ({s}, {s + resolution:.4g}] below the threshold shows it is within "
         f"{resolution} of a cliff; measured (sparsity, quality): {shown}")
    return float(s), measured


@pytest.mark.parametrize("cliff", np.round(np.linspace(0.0, 0.95, 39), 4).tolist())
def test_a_single_cliff_anywhere_is_found_within_the_resolution(cliff):
    s, calls = run_search(lambda t: t <= cliff)
    assert cliff - 0.05 - 1e-12 <= s <= cliff, f"valid up to {cliff}: answer {s}, measured {calls}"


@pytest.mark.parametrize("resolution,budget,upper", [(0.01, 9, 0.99), (0.1, 5, 0.9), (0.02, 8, 0.95)])
def test_other_resolutions_and_budgets(resolution, budget, upper):
    for cliff in (0.03, 0.41, upper - resolution / 2):
        s, _ = run_search(lambda t, c=cliff: t <= c, resolution=resolution, budget=budget, upper=upper)
        assert cliff - resolution - 1e-12 <= s <= cliff, f"resolution {resolution}, cliff {cliff}: answer {s}"


@pytest.mark.parametrize("cliff", [0.12, 0.62, 0.95])
def test_a_quality_equal_to_the_threshold_meets_it(cliff):
    measured = []
    s = largest_valid_sparsity(lambda t: measured.append(t) or (0.9 if t <= cliff else 0.5), 0.9)
    assert cliff - 0.05 - 1e-12 <= s <= cliff, \
        f"quality equal to the threshold meets it (>=): valid up to {cliff}, answer {s}, measured {measured}"
    s, _ = run_search(lambda t: True, threshold=1.0)
    assert s >= 0.9, f"quality exactly at the threshold is valid: answer {s}"


def test_wobbling_curves_get_an_answer_with_its_evidence():
    rng = np.random.default_rng(20)
    for _ in range(40):  # random valid stretches: any answer with its evidence passes
        edges = np.sort(rng.uniform(0, 0.95, size=4))
        run_search(lambda t, e=edges: t <= e[0] or e[1] <= t <= e[2])


def test_the_answer_is_a_number_and_bad_arguments_raise():
    s, _ = run_search(lambda t: t <= 0.5)
    assert isinstance(s, float)
    raises(ValueError, lambda: largest_valid_sparsity(lambda s: 1.0, 0.9, resolution=0), "resolution")
    raises(ValueError, lambda: largest_valid_sparsity(lambda s: 1.0, 0.9, upper=1.0), "upper")
    raises(ValueError, lambda: largest_valid_sparsity(lambda s: 1.0, 0.9, budget=0), "budget")


def test_on_the_digits_mlp_the_answer_is_a_valid_recipe():
    model = reference_model("digits-mlp")
    task = TASKS["digits-mlp"]
    threshold = task.target * task.quality(model)
    measured = {}

    def quality_at(s):
        pruned = apply_recipe("digits-mlp", model, {"prune": {"sparsity": float(s), "scope": "global"}})
        measured[float(s)] = task.quality(pruned)
        return measured[float(s)]

    s = largest_valid_sparsity(quality_at, threshold)
    assert len(measured) <= 8, f"at most 8 measurements, got {len(measured)}"
    assert s == 0.0 or measured[s] >= threshold, f"answer {s}: measured {measured.get(s)} < {threshold}"
    assert s > 0.1, f"the digits MLP stays valid past 10% global sparsity; answer {s}, measured {measured}"
