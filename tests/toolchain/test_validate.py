"""The metadata validator catches each kind of bad cell and names its line and grade_id."""

from __future__ import annotations

import json

import pytest

from tito.course import checksums, notebook, validate
from tito.course.edition import is_student_edition
from tito.registry import available

from .conftest import FIXTURES, REPO


def meta(grade_id: str, *, grade=False, solution=False, locked=False, **extra) -> str:
    data = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3,
            "solution": solution, "task": False, **extra}
    return "# %% nbgrader=" + json.dumps(data)


HEAD = "# %% [markdown]\n# Title\n\n# %%\n#| default_exp tensor\nimport numpy as np\n"


def problems(body: str, **kwargs) -> list[validate.Problem]:
    return validate.check(notebook.parse_text(HEAD + body)[1], "tensor", **kwargs)


def only(body: str, **kwargs) -> validate.Problem:
    found = problems(body, **kwargs)
    assert len(found) == 1, found
    return found[0]


def line_of(body: str, needle: str) -> int:
    return (HEAD + body).splitlines().index(needle) + 1


def test_fixture_module_is_valid():
    cells = notebook.parse(FIXTURES / "01_tensor_dev.py")
    assert validate.check(cells, "tensor") == []


@pytest.mark.parametrize("module", available(REPO), ids=lambda m: m.name)
def test_every_written_module_is_valid(module):
    cells = notebook.parse(REPO / module.source)
    found = validate.check(cells, module.slug, require_markers=not is_student_edition(REPO))
    assert [str(p) for p in found] == []


def test_metadata_that_is_not_json():
    body = '# %% nbgrader={"grade": true,, "grade_id": "x"}\nx = 1\n'
    found = only(body)
    assert found.line == line_of(body, body.splitlines()[0]) and "not valid JSON" in found.message


def test_missing_required_key():
    body = '# %% nbgrader={"grade": false, "grade_id": "cell-a", "locked": false, "solution": false}\nx = 1\n'
    found = problems(body)
    assert {p.grade_id for p in found} == {"cell-a"}
    assert any("'schema_version'" in p.message for p in found) and any("'task'" in p.message for p in found)
    assert "line 7 [cell-a]" in str(found[0])


def test_wrong_key_type():
    body = meta("cell-a").replace('"locked": false', '"locked": "no"') + "\nx = 1\n"
    assert "'locked' must be a bool" in only(body).message


def test_duplicate_grade_id():
    body = f"{meta('same')}\nx = 1\n\n{meta('same')}\ny = 2\n"
    found = only(body)
    assert found.grade_id == "same" and found.line == 10 and "first used at line 7" in found.message


def test_graded_cell_without_points():
    body = f"{meta('test-a', grade=True, locked=True)}\ndef test_unit_a():\n    pass\n"
    found = only(body)
    assert found.grade_id == "test-a" and "points > 0" in found.message


@pytest.mark.parametrize("points", [0, -1, "5", True])
def test_graded_cell_with_bad_points(points):
    body = f"{meta('test-a', grade=True, locked=True, points=points)}\ndef test_unit_a():\n    pass\n"
    assert "points > 0" in only(body).message


def test_solution_region_never_closed():
    body = f"{meta('sol', solution=True)}\ndef f():\n    ### BEGIN SOLUTION\n    return 1\n"
    found = only(body)
    assert found.grade_id == "sol" and found.line == line_of(body, "    ### BEGIN SOLUTION")
    assert "never closed" in found.message


def test_end_marker_without_begin():
    body = f"{meta('sol', solution=True)}\ndef f():\n    return 1\n    ### END SOLUTION\n"
    found = only(body)
    assert found.line == line_of(body, "    ### END SOLUTION") and "without a matching" in found.message


def test_nested_begin_markers():
    body = (f"{meta('sol', solution=True)}\ndef f():\n    ### BEGIN SOLUTION\n    ### BEGIN SOLUTION\n"
            "    return 1\n    ### END SOLUTION\n")
    found = only(body)
    assert found.line == 10 and "inside the region opened at line 9" in found.message


def test_markers_outside_a_solution_cell():
    body = f"{meta('given')}\ndef f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n"
    found = problems(body)
    assert [p.line for p in found] == [9, 11] and all(p.grade_id == "given" for p in found)
    assert 'without "solution": true' in found[0].message


def test_malformed_marker():
    body = f"{meta('sol', solution=True)}\ndef f():\n    # BEGIN SOLUTION\n    return 1\n"
    found = problems(body)
    assert found[0].line == 9 and "malformed marker" in found[0].message


def test_solution_cell_without_markers_only_matters_in_the_reference():
    body = f"{meta('sol', solution=True)}\ndef f():\n    return 1\n"
    assert "has no '### BEGIN SOLUTION'" in only(body).message
    assert problems(body, require_markers=False) == []


def test_schema_version_must_be_3():
    body = meta("cell-a").replace('"schema_version": 3', '"schema_version": 2') + "\nx = 1\n"
    assert "schema_version must be 3" in only(body).message


def test_default_exp_must_match_the_registry():
    text = "# %%\n#| default_exp tensors\nx = 1\n"
    found = validate.check(notebook.parse_text(text)[1], "tensor")
    assert len(found) == 1 and found[0].line == 2 and "'#| default_exp tensor'" in found[0].message


def test_default_exp_missing_or_repeated():
    assert "no '#| default_exp tensor'" in validate.check(notebook.parse_text("# %%\nx = 1\n")[1],
                                                          "tensor")[0].message
    body = "# %%\n#| default_exp tensor\n"
    assert "appears again (first at line 5)" in only(body).message


LOCKED = f"{meta('test-a', grade=True, locked=True, points=2)}\ndef test_unit_a():\n    assert True\n"


def released() -> dict[str, str]:
    return checksums.locked_checksums(notebook.parse_text(HEAD + LOCKED)[1])


def test_locked_cell_changed_since_release():
    found = only(LOCKED.replace("assert True", "pass"), released=released())
    assert found.grade_id == "test-a" and found.line == 7 and "changed since release" in found.message


def test_locked_cell_removed_or_added():
    assert "is missing" in only("", released=released()).message
    assert "not part of the release" in only(LOCKED, released={}).message
    assert problems(LOCKED, released=released()) == []
