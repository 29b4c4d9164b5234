"""Module 20: validate_submission and recipe_errors on good, damaged and arbitrary documents."""

import copy
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinytorch.capstone import CLAIM_KEYS, TOP_KEYS, recipe_errors, validate_submission
from tinytorch.testing import raises

CLAIMS = {"quality": 0.9, "latency_p90": 1e-4, "throughput": 1e4, "size_bytes": 1000}
GOOD = {"schema_version": 1, "task": "digits-cnn", "student": "", "environment": {},
        "recipe": {"quantize": {"method": "percentile", "per_channel": False},
                   "prune": {"sparsity": 0.0, "scope": "layer"}, "kv_cache": False},
        "claims": dict(CLAIMS), "baseline": dict(CLAIMS)}


def test_a_good_submission_and_its_json_round_trip_are_valid():
    assert validate_submission(GOOD) == []
    assert validate_submission(json.loads(json.dumps(GOOD))) == []


@pytest.mark.parametrize("task", ["digits-mlp", "digits-cnn", "char-gpt"])
def test_every_task_of_the_suite_is_accepted(task):
    assert validate_submission(dict(GOOD, task=task, recipe={})) == []


@pytest.mark.parametrize("key", TOP_KEYS)
def test_each_missing_top_key_is_named(key):
    errors = validate_submission({k: v for k, v in GOOD.items() if k != key})
    assert errors == [f"{key}: missing"]


@pytest.mark.parametrize("part", ["claims", "baseline"])
@pytest.mark.parametrize("key", CLAIM_KEYS)
@pytest.mark.parametrize("bad", [None, "1", True, -1, float("nan"), float("inf"), [1]])
def test_each_bad_claim_is_named_with_its_path(part, key, bad):
    if bad is None and key in ("latency_p90", "throughput"):
        bad = 0  # null is allowed there (an invalid result is not timed); zero is not
    damaged = copy.deepcopy(GOOD)
    damaged[part][key] = bad
    errors = validate_submission(damaged)
    assert len(errors) == 1 and errors[0].startswith(f"{part}.{key}:"), errors


@pytest.mark.parametrize("quality,ok", [(0.0, True), (1.0, True), (1, True), (1.0001, False), (-0.01, False)])
def test_quality_is_a_fraction(quality, ok):
    assert (validate_submission(dict(GOOD, claims=dict(CLAIMS, quality=quality))) == []) is ok


@pytest.mark.parametrize("recipe,where", [
    ({"quantise": {}}, "recipe.quantise"),
    ({"quantize": {"method": "minmax"}}, "recipe.quantize.per_channel"),
    ({"quantize": {"method": "minmax", "per_channel": 1}}, "recipe.quantize.per_channel"),
    ({"quantize": {"method": "minmax", "per_channel": True, "bits": 4}}, "recipe.quantize.bits"),
    ({"quantize": "int8"}, "recipe.quantize"),
    ({"prune": {"sparsity": -0.1, "scope": "global"}}, "recipe.prune.sparsity"),
    ({"prune": {"sparsity": "0.5", "scope": "global"}}, "recipe.prune.sparsity"),
    ({"prune": {"sparsity": True, "scope": "global"}}, "recipe.prune.sparsity"),
    ({"prune": {"sparsity": 0.5, "scope": "channel"}}, "recipe.prune.scope"),
    ({"prune": {"sparsity": 0.5}}, "recipe.prune.scope"),
    ({"prune": 0.5}, "recipe.prune"),
    ({"kv_cache": "yes"}, "recipe.kv_cache"),
    ({"kv_cache": True}, "recipe.kv_cache"),  # GOOD is a digits task
])
def test_each_recipe_problem_is_named(recipe, where):
    errors = validate_submission(dict(GOOD, recipe=recipe))
    assert len(errors) == 1 and errors[0].startswith(where + ":"), errors
    assert recipe_errors(recipe, "digits-cnn") == errors


def test_recipe_errors_without_a_task_do_not_judge_the_kv_cache():
    assert recipe_errors({"kv_cache": True}) == []
    assert recipe_errors({"kv_cache": True}, "char-gpt") == []


def test_errors_say_what_they_got():
    (error,) = validate_submission(dict(GOOD, schema_version="1"))
    assert "'1'" in error and "string" in error
    (error,) = validate_submission(dict(GOOD, baseline=dict(CLAIMS, size_bytes=2.5)))
    assert "2.5" in error and "integer" in error


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_never_raises_on_arbitrary_json(value):
    errors = validate_submission(value)
    assert isinstance(errors, list) and errors and all(isinstance(e, str) for e in errors)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(TOP_KEYS)), json_values)
def test_replacing_a_top_level_value_never_raises_and_is_caught_unless_harmless(key, value):
    damaged = dict(GOOD, **{key: value})
    errors = validate_submission(damaged)
    harmless = (key == "student" and isinstance(value, str)) \
        or (key == "environment" and isinstance(value, dict)) or (key == "recipe" and value == {}) \
        or (key == "schema_version" and type(value) is int and value == 1)
    assert (errors == []) is harmless, (key, value, errors)


def test_times_may_be_null_for_a_result_that_was_not_timed():
    untimed = dict(CLAIMS, latency_p90=None, throughput=None)
    assert validate_submission(dict(GOOD, claims=untimed)) == []
    for key in ("quality", "size_bytes"):
        (error,) = validate_submission(dict(GOOD, claims=dict(CLAIMS, **{key: None})))
        assert error.startswith(f"claims.{key}:")


@pytest.mark.parametrize("version", [True, False, "1", 1.0, 2, 0, None])
def test_schema_version_is_exactly_the_integer_one(version):
    errors = validate_submission(dict(GOOD, schema_version=version))
    assert len(errors) == 1 and errors[0].startswith("schema_version:"), \
        f"schema_version {version!r} ({type(version).__name__}): one error expected, got {errors}"


@pytest.mark.parametrize("key", ["notes", "claim", "Task"])
def test_each_unknown_top_key_is_named(key):
    errors = validate_submission(dict(GOOD, **{key: 1}))
    assert errors == [f"{key}: unknown key (known: {', '.join(TOP_KEYS)})"], f"key {key!r}: got {errors}"


def check_task(validate, task) -> None:
    """One error, on the task, for a task that is not a task name, with and without a KV cache; an exception
    (a list handed to `in TASKS` or to recipe_errors) is named."""
    for recipe in ({}, {"kv_cache": True}):  # the recipe check must not be handed a non-string task
        try:
            errors = validate(dict(GOOD, task=task, recipe=recipe))
        except Exception as err:
            why = (": a list is unhashable, so `in TASKS` and recipe_errors' task_name need a string; check "
                   "the type first, and give recipe_errors the task only when it is a string"
                   if "unhashable" in str(err) else "")
            raise AssertionError(f"task {task!r}, recipe {recipe}: validate_submission raised "
                                 f"{type(err).__name__} ({err}); it reports bad input{why}") from None
        assert len(errors) == 1 and errors[0].startswith("task:"), f"task {task!r}, {recipe}: got {errors}"


@pytest.mark.parametrize("task", [["digits-mlp"], {"name": "char-gpt"}, 7, None, "digits-rnn"])
def test_a_task_that_is_not_a_task_name_is_named_without_raising(task):
    check_task(validate_submission, task)


def _task_handed_on(obj):
    """Planted: the recipe checked with whatever the task is."""
    others = [e for e in validate_submission(obj) if not e.startswith("recipe")]
    return others + recipe_errors(obj["recipe"], obj["task"])


def test_a_list_task_handed_to_the_recipe_check_is_named():
    raises(AssertionError, lambda: check_task(_task_handed_on, ["char-gpt"]), "unhashable", "recipe_errors")


def test_every_problem_is_reported_in_the_order_of_section_2():
    errors = [e.split(":")[0] for e in validate_submission({"task": "nope", "extra": 1})]
    keys = ["schema_version", "student", "recipe", "claims", "baseline", "environment", "extra"]
    assert sorted(errors[:-1]) == sorted(keys) and errors[-1] == "task", \
        f"each missing key, the unknown key, then the bad task: got {errors}"
    damaged = dict(GOOD, claims=[], baseline=None, schema_version=0, recipe={"prune": 1}, student=3)
    errors = [e.split(":")[0] for e in validate_submission(damaged)]
    assert errors == ["schema_version", "student", "recipe.prune", "claims", "baseline"], errors
