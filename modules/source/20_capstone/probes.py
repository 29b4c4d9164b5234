"""Grading probes for module 20 (Capstone): the graded checks again, on inputs drawn at grading time.

tito calls each probe after the notebook's cells, with the notebook's namespace and a seeded NumPy
generator, and compares what it returns with the reference's values (tito/grading/probes.py).
Error messages are the student's wording: probes return the field path each one starts with, never
the text. The sparsity search is the student's design: its probe draws cliffs in the middle of a
0.01 cell and a resolution below it, so every answer that keeps the contract floors to the same
cell. Times are never returned.
"""

import copy
import math

import numpy as np


def _claims(rng):
    return {"quality": float(rng.integers(200, 360)) / 360, "latency_p90": float(rng.uniform(1e-5, 1e-2)),
            "throughput": float(rng.uniform(1e2, 1e5)), "size_bytes": int(rng.integers(1000, 200_000))}


def _submission(rng, task="digits-mlp"):
    return {"schema_version": 1, "task": task, "student": f"s{int(rng.integers(0, 1000))}",
            "recipe": {"quantize": {"method": ["minmax", "percentile"][int(rng.integers(0, 2))],
                                    "per_channel": bool(rng.integers(0, 2))},
                       "prune": {"sparsity": float(rng.uniform(0, 0.9)), "scope": "global"}},
            "claims": _claims(rng), "baseline": _claims(rng), "environment": {"cpu": "probe"}}


def _paths(errors):
    """The field path each error starts with, sorted (the order within a step is the student's)."""
    return ",".join(sorted(str(e).split(":")[0] for e in errors))


def validate_submission(ns, rng):
    validate = ns["validate_submission"]
    good = _submission(rng)
    out = {"good": _paths(validate(good)), "good_count": len(validate(good)),
           "empty_recipe": len(validate(dict(good, recipe={}))),
           "gpt_kv": len(validate(dict(good, task="char-gpt", recipe={"kv_cache": True})))}
    version, task, extra = int(rng.integers(2, 99)), f"digits-{int(rng.integers(100, 999))}", f"x{int(rng.integers(0, 99))}"
    damages = [  # (name, damaged submission, the value its error must show)
        ("missing", {k: v for k, v in good.items() if k != "claims"}, "claims"),
        ("unknown", dict(good, **{extra: 1}), extra),
        ("version", dict(good, schema_version=version), str(version)),
        ("version_str", dict(good, schema_version=str(version)), str(version)),
        ("version_bool", dict(good, schema_version=True), "schema_version"),
        ("task", dict(good, task=task), task),
        ("task_list", dict(good, task=[task], recipe={"kv_cache": True}), "task"),
        ("student", dict(good, student=int(rng.integers(0, 99))), "student"),
        ("environment", dict(good, environment=f"laptop{int(rng.integers(0, 9))}"), "environment"),
        ("kv_digits", dict(good, recipe={"kv_cache": True}), "digits-mlp"),
        ("recipe_list", dict(good, recipe=[]), "recipe"),
        ("quality_str", dict(good, claims=dict(good["claims"], quality=str(good["claims"]["quality"]))), "quality"),
        ("size_float", dict(good, baseline=dict(good["baseline"], size_bytes=good["baseline"]["size_bytes"] + 0.5)),
         "size_bytes"),
    ]
    for name, damaged, shown in damages:
        errors = validate(damaged)
        out[f"{name}_paths"] = _paths(errors)
        out[f"{name}_shows_value"] = len(errors) == 1 and shown.lower() in str(errors[0]).lower()
    # several damages at once: every one is reported
    many = dict(good, schema_version=version, task=task, claims=[], baseline=None, student=None)
    del many["environment"]
    out["many"] = _paths(validate(many))
    out["not_a_dict"] = len(validate([good])) >= 1 and len(validate(None)) >= 1
    return out


def _mlp(rng, hidden):
    from tinytorch.activations import ReLU
    from tinytorch.layers import Linear, Sequential

    model = Sequential(Linear(64, hidden, rng=0), ReLU(), Linear(hidden, hidden, rng=1), ReLU(),
                       Linear(hidden, 10, rng=2))
    for _, p in model.named_parameters():  # weights set here, not by an init
        p.data[...] = rng.normal(size=p.shape) * 0.3
    return model


def apply_recipe(ns, rng):
    from tinytorch.autograd import no_grad
    from tinytorch.datasets import load_tinydigits

    apply = ns["apply_recipe"]
    model = _mlp(rng, int(rng.integers(8, 24)))
    before = [p.data.copy() for p in model.parameters()]
    x = load_tinydigits()[2][rng.choice(360, size=20, replace=False)].reshape(-1, 64)
    sparsity, scope = float(rng.uniform(0.1, 0.9)), ["global", "layer"][int(rng.integers(0, 2))]
    quantize = {"method": ["minmax", "percentile"][int(rng.integers(0, 2))], "per_channel": bool(rng.integers(0, 2))}
    out = {}
    with no_grad():
        same = apply("digits-mlp", model, {})
        out["same"] = same(x).data
        out["same_is_copy"] = same is not model
        out["same_eval"] = not same.training
        pruned = apply("digits-mlp", model, {"prune": {"sparsity": sparsity, "scope": scope}})
        out["pruned"] = pruned(x).data
        out["pruned_zeros"] = np.array([float(np.mean(p.data == 0)) for p in pruned.parameters() if p.ndim == 2])
        quantized = apply("digits-mlp", model, {"quantize": quantize})
        out["quantized"] = quantized(x).data
        other = {"method": quantize["method"], "per_channel": not quantize["per_channel"]}
        out["quantized_other"] = apply("digits-mlp", model, {"quantize": other})(x).data
        other_scope = {"global": "layer", "layer": "global"}[scope]
        out["pruned_other"] = apply("digits-mlp", model, {"prune": {"sparsity": sparsity, "scope": other_scope}})(x).data
        out["quantized_kinds"] = ",".join(type(m).__name__ for m in quantized.modules())
        both = apply("digits-mlp", model, {"prune": {"sparsity": sparsity, "scope": scope}, "quantize": quantize})
        out["both"] = both(x).data
        out["both_codes"] = np.concatenate([m.weight_q.ravel() for m in both.modules() if hasattr(m, "weight_q")])
        training = copy.deepcopy(model).train()
        out["training_kept"] = apply("digits-mlp", training, {"kv_cache": False}).training is False \
            and training.training
    out["input_unchanged"] = all(np.array_equal(p.data, b) for p, b in zip(model.parameters(), before))
    for name, recipe in (("bad_sparsity", {"prune": {"sparsity": 1 + sparsity, "scope": scope}}),
                         ("kv_on_digits", {"kv_cache": True})):
        try:
            apply("digits-mlp", model, recipe)
            out[name] = "no error"
        except ValueError:
            out[name] = "ValueError"
    return out


def _search(search, cliff, resolution, budget, quality, upper=0.95):
    """Run the student's search on a curve of `quality` up to `cliff` and 0.5 above it, refusing
    measurements outside [0, upper] or over the budget; (answer, the measurements)."""
    measured = []

    def quality_at(s):
        if not (0 <= s <= upper) or len(measured) >= budget:
            raise AssertionError(f"quality_at({s!r}) outside [0, {upper}] or over the budget of {budget}")
        measured.append((float(s), quality if s <= cliff else 0.5))
        return measured[-1][1]

    return float(search(quality_at, 0.9, resolution=resolution, budget=budget, upper=upper)), measured


def largest_valid_sparsity(ns, rng):
    search = ns["largest_valid_sparsity"]
    out = {}
    for case in range(4):
        cell = int(rng.integers(3, 93))  # the cliff sits at cell/100 + 0.0075: every valid answer floors to cell
        resolution = float(rng.uniform(0.001, 0.005))
        budget = math.ceil(math.log2(0.95 / resolution)) + 4  # more slack than the graded test gives
        quality = 0.9 if case == 3 else 1.0  # exactly the threshold up to the cliff: that meets it
        s, measured = _search(search, cell / 100 + 0.0075, resolution, budget, quality)
        out[f"cell_{case}"] = int(math.floor(s * 100))
        out[f"measured_valid_{case}"] = s == 0.0 or any(t == s and q >= 0.9 for t, q in measured)
        out[f"evidence_{case}"] = any(s < t <= s + resolution + 1e-12 and q < 0.9 for t, q in measured)
    out["only_reference"] = float(search(lambda t: 1.0 if t == 0 else 0.5, 0.9))
    everything = float(search(lambda t: 1.0, 0.9, resolution=0.02, upper=0.9))
    out["all_valid"] = 0.88 - 1e-12 <= everything <= 0.9
    try:
        search(lambda t: 1.0, 0.9, resolution=0)
        out["bad_resolution"] = "no error"
    except ValueError:
        out["bad_resolution"] = "ValueError"
    return out


def _numbers(rng):
    return {"quality": int(rng.integers(32, 64)) / 64, "latency_p90": float(rng.uniform(1e-4, 1e-2)),
            "throughput": float(rng.uniform(10, 1e5)), "size_bytes": int(rng.integers(1000, 99_999))}


def check_claims(ns, rng):
    check = ns["check_claims"]
    tol = ns["QUALITY_TOLERANCE"]  # a power of two: dyadic qualities plus k * tol stay exact
    measured, reference = _numbers(rng), _numbers(rng)
    target = int(rng.integers(8, 16)) / 16
    threshold_measured = dict(measured, quality=target * reference["quality"])  # exactly at the threshold
    one_below = dict(measured, quality=float(np.nextafter(target * reference["quality"], 0)))
    sign = 1 if rng.random() < 0.5 else -1
    cases = [  # (claims, baseline, measured, reference): each changes one thing of the honest case
        (measured, reference, measured, reference),
        (dict(measured, quality=measured["quality"] + sign * tol), reference, measured, reference),
        (dict(measured, quality=measured["quality"] + sign * 2 * tol), reference, measured, reference),
        (dict(measured, quality=measured["quality"] + sign / 360), reference, measured, reference),
        (dict(measured, size_bytes=measured["size_bytes"] + sign), reference, measured, reference),
        (dict(measured, size_bytes=measured["size_bytes"] - sign), reference, measured, reference),
        (measured, dict(reference, quality=reference["quality"] - sign * tol), measured, reference),
        (measured, dict(reference, quality=reference["quality"] - sign * 2 * tol), measured, reference),
        (measured, dict(reference, quality=reference["quality"] - 8 / 64), measured, reference),  # a weak baseline
        (measured, dict(reference, size_bytes=reference["size_bytes"] + 4 * sign), measured, reference),
        (threshold_measured, reference, threshold_measured, reference),
        (one_below, reference, one_below, reference),
        (dict(one_below, quality=reference["quality"]), dict(reference, quality=reference["quality"] / 2),
         one_below, reference),  # the claims and the baseline say it passes; the re-measured numbers decide
        (dict(measured, latency_p90=1e-9, throughput=1e12), dict(reference, latency_p90=10.0, throughput=1.0),
         measured, reference),  # time is never checked
    ]
    passed, claimed, seen, names = [], [], [], set()
    for claims, baseline, now, ref in cases:
        checks = check({"claims": dict(claims), "baseline": dict(baseline)}, dict(now), dict(ref), target)
        names.add(",".join(c.name for c in checks))
        passed.append([bool(c.passed) for c in checks])
        claimed.append([float(c.claimed) for c in checks])
        seen.append([float(c.measured) for c in checks])
    return {"names": ",".join(sorted(names)), "passed": np.array(passed), "claimed": np.array(claimed),
            "measured": np.array(seen)}


def module(ns, rng):
    import json
    import tempfile
    from pathlib import Path

    from tinytorch.transformers import GPT

    make, verify = ns["make_submission"], ns["verify_submission"]
    save, load = ns["save_submission"], ns["load_submission"]
    recipe = {"prune": {"sparsity": float(rng.uniform(0.05, 0.6)), "scope": ["global", "layer"][int(rng.integers(0, 2))]}}
    if rng.random() < 0.7:
        recipe["quantize"] = {"method": ["minmax", "percentile"][int(rng.integers(0, 2))],
                              "per_channel": bool(rng.integers(0, 2))}
    timing = {"repeats": 1, "warmup": 0}
    submission = make("digits-mlp", recipe, student="probe", **timing)
    out = {"valid": ns["validate_submission"](submission) == []}
    for side in ("claims", "baseline"):
        out[f"{side}_quality"] = float(submission[side]["quality"])
        out[f"{side}_size"] = int(submission[side]["size_bytes"])
    with tempfile.TemporaryDirectory() as folder:
        loaded = load(save(submission, Path(folder) / "sub.json"))
    out["round_trip"] = loaded == json.loads(json.dumps(submission))
    verified = verify(loaded, **timing)
    out["verified_checks"] = ",".join(c.name for c in verified.checks)
    out["verified_passed"] = np.array([bool(c.passed) for c in verified.checks])
    out["verified_quality"] = float(verified.measured["quality"])
    tampered = copy.deepcopy(loaded)
    fields = [("claims", "quality", 1 / 360), ("claims", "size_bytes", -1), ("baseline", "quality", -2 / 360),
              ("baseline", "size_bytes", 4)]
    for i in sorted(int(k) for k in rng.choice(4, size=2, replace=False)):
        part, key, change = fields[i]
        tampered[part][key] = min(1.0, tampered[part][key] + change) if key == "quality" else tampered[part][key] + change
    rejected = verify(tampered, **timing)
    out["tampered_passed"] = np.array([bool(c.passed) for c in rejected.checks])

    small = GPT(11, 16, 1, 2, 12, rng=3)
    for _, p in small.named_parameters():  # weights set here, not by an init
        p.data[...] = rng.normal(size=p.shape) * 0.5
    prompt = rng.integers(0, 11, size=int(rng.integers(2, 5)))
    check = ns["generation_check"](ns["apply_recipe"]("char-gpt", small, {"kv_cache": True}), prompt, tokens=6, repeats=1)
    out["gpt_same"], out["gpt_tokens"] = bool(check["same"]), np.array(check["cached_tokens"])
    return out


PROBES = {
    "test-validate-submission": ["validate_submission"],
    "test-apply-recipe": ["apply_recipe"],
    "test-largest-valid-sparsity": ["largest_valid_sparsity"],
    "test-check-claims": ["check_claims"],
    "test-module": ["module"],
}
