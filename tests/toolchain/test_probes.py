"""Probes (tito/grading/probes.py): the part of a verdict that the student's code cannot forge."""

from __future__ import annotations

import numpy as np
import pytest

from tito.course import notebook
from tito.errors import TitoError
from tito.grading import probes
from tito.grading.grader import grading_package, reference_cells, run_cells
from tito.registry import MODULES

from .conftest import REPO

WITH_PROBES = [m for m in MODULES if probes.probe_file(REPO, m).is_file()]


def _graded_ids(module) -> set[str]:
    return {c.grade_id for c in notebook.parse(REPO / module.source)
            if c.nbgrader and c.nbgrader.get("grade") and not c.nbgrader.get("solution")}


@pytest.mark.parametrize("module", WITH_PROBES, ids=lambda m: m.number)
def test_every_graded_cell_has_probes_whose_values_depend_on_the_drawn_inputs(tmp_path, module):
    """Two seeds, the reference's own code: each graded cell has at least one value that changes
    with the seed (an answer that does not could be written down in advance). That one seed gives
    the same values in two processes is what grading the reference with full points proves
    (tests/toolchain/test_grading.py)."""
    table = probes.load(probes.probe_file(REPO, module)).PROBES
    graded = _graded_ids(module)
    assert set(table) == graded, f"graded cells without probes: {graded - set(table)}"
    dest = grading_package(REPO, module.number, tmp_path / "grading")
    runs = []
    for seed in (1, 2):
        plan = probes.plan(REPO, module, seed)
        run = run_cells(dest, reference_cells(REPO, module), timeout=120, plan=plan)
        assert all(e["ok"] for e in run.probes) and len(run.probes) == len(plan.run), run.probes
        runs.append({(e["grade_id"], e["probe"]): probes.values(e) for e in run.probes})
    for gid, names in table.items():
        moved = [n for n in names if probes.compare(runs[0][gid, n], runs[1][gid, n], (0, 0)) is not None]
        assert moved, f"{gid}: no probe's values depend on the drawn inputs ({names})"


def _arr(*values, dtype="float32"):
    return np.array(values, dtype=dtype)


def test_compare_names_what_differs():
    want = {"out": _arr(1, 2, 3), "n": 3, "name": "ValueError", "loss": 0.5}
    assert probes.compare(dict(want), want) is None
    assert probes.compare({**want, "out": _arr(1, 2, 3.5)}, want) == \
        "'out': 1 of 3 values differ from the reference"
    assert "dtype float64" in probes.compare({**want, "out": _arr(1, 2, 3, dtype="float64")}, want)
    assert "shape (2,)" in probes.compare({**want, "out": _arr(1, 2)}, want)
    assert probes.compare({**want, "n": 3.0}, want) == "'n': expected 3, got 3.0"
    assert probes.compare({**want, "name": "TypeError"}, want) == \
        "'name': expected 'ValueError', got 'TypeError'"
    assert probes.compare({**want, "loss": 0.50000001}, want) is None
    assert probes.compare({k: v for k, v in want.items() if k != "loss"}, want) == "'loss' is missing"
    assert probes.compare({**want, "extra": 1}, want) == "unexpected values ['extra']"
    assert probes.compare({**want, "out": _arr(1, 2, np.nan)}, {**want, "out": _arr(1, 2, np.nan)}) is None


@pytest.mark.parametrize("raw", [
    {"dtype": "<f4", "shape": [2], "data": [1.0]},  # too few numbers
    {"dtype": "|O", "shape": [1], "data": [1]},  # objects
    {"dtype": "<f4", "shape": [-1], "data": []},
    {"dtype": "<f4", "shape": [1], "data": "1"},
    {"dtype": "<f4", "shape": [1], "data": [1], "extra": 1},
    [1, 2, 3],
])
def test_values_a_run_sends_are_checked_before_use(raw):
    with pytest.raises((ValueError, TypeError)):
        probes.values({"values": {"x": raw}})


def _plan(tmp_path):
    return probes.Plan(tmp_path / "probes.py", 7, {"test-a": ["one"], "test-b": ["two"]})


def _entry(gid, name, ok=True, **values):
    return {"grade_id": gid, "probe": name, "ok": ok, "values": {k: float(v) for k, v in values.items()}}


def test_verdicts_fail_a_cell_whose_probe_is_missing_wrong_forged_or_raised(tmp_path):
    plan = _plan(tmp_path)
    reference = [_entry("test-a", "one", x=1.5), _entry("test-b", "two", y=2.5)]
    assert probes.verdicts(plan, reference, reference) == {"test-a": [], "test-b": []}
    failed = probes.verdicts(plan, [_entry("test-a", "one", x=9)], reference, "stopped: it did not finish")
    assert failed["test-a"] == ["probe 'one' on inputs drawn at grading time: 'x': expected about 1.5, got 9"]
    assert failed["test-b"] == ["probe 'two' did not run: stopped: it did not finish"]
    forged = [{"grade_id": "test-a", "probe": "one", "ok": True, "values": {"x": {"dtype": "|O"}}},
              {"grade_id": "test-b", "probe": "two", "ok": False, "error": "NotImplementedError: stub"}]
    failed = probes.verdicts(plan, forged, reference)
    assert failed["test-a"] == ["probe 'one' on inputs drawn at grading time: a probe returned something "
                                "tito cannot read"]
    assert "raised NotImplementedError: stub" in failed["test-b"][0]


def test_a_reference_that_fails_its_own_probe_stops_the_grading(tmp_path):
    plan = _plan(tmp_path)
    with pytest.raises(TitoError, match="The reference fails probe 'two'"):
        probes.verdicts(plan, [], [_entry("test-a", "one", x=1), {**_entry("test-b", "two"), "ok": False}])


def test_a_probe_file_without_a_table_is_refused(tmp_path):
    bad = tmp_path / "probes.py"
    bad.write_text("def one(ns, rng):\n    return {}\nPROBES = {'test-a': ['two']}\n", encoding="utf-8")
    with pytest.raises(TitoError, match="names 'two', which is not a function"):
        probes.load(bad)
    bad.write_text("PROBES = None\n", encoding="utf-8")
    with pytest.raises(TitoError, match="no PROBES table"):
        probes.load(bad)
