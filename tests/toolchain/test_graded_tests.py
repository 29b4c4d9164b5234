"""Graded tests stay as released: a locked test cannot be redefined or rebound in another cell,
a student edition grades only the locked cells' tests, and the marker words appear only as markers."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from tinytorch import testing
from tito.course import notebook, solutions, validate
from tito.registry import MODULES


def meta(grade_id: str, *, grade=False, solution=False, locked=False, **extra) -> str:
    data = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3,
            "solution": solution, "task": False, **extra}
    return "# %% nbgrader=" + json.dumps(data)


HEAD = "# %% [markdown]\n# Title\n\n# %%\n#| default_exp tensor\nimport numpy as np\n"
GRADED = (f"{meta('test-add', grade=True, locked=True, points=5)}\n"
          "def test_unit_add():\n    assert 1 + 1 == 2\n\n"
          f"{meta('test-module', grade=True, locked=True, points=2)}\n"
          "def test_module():\n    test_unit_add()\n")
LATER = f"\n{meta('mine')}\n"  # an unlocked cell after the graded ones


def problems(body: str, student_edition: bool = False) -> list[validate.Problem]:
    text = HEAD + GRADED + body
    cells = notebook.parse_text(text)[1]
    return validate.check(cells, "tensor", source=text, student_edition=student_edition)


def line_of(body: str, needle: str) -> int:
    return (HEAD + GRADED + body).splitlines().index(needle) + 1


def test_released_tests_are_fine():
    assert problems("") == [] and problems("", student_edition=True) == []
    assert problems(LATER + "def check_add():\n    test_unit_add()\n", student_edition=True) == []


REBINDINGS = {
    "def": "def test_unit_add():\n    pass",
    "async def": "async def test_unit_add():\n    pass",
    "class": "class test_module:\n    pass",
    "assignment": "test_unit_add = lambda: None",
    "tuple assignment": "x, test_unit_add = 1, print",
    "augmented": "test_unit_add += 0",
    "annotated": "test_unit_add: object = print",
    "walrus": "(test_unit_add := print)",
    "for target": "for test_unit_add in [print]:\n    pass",
    "with target": "with open(__file__) as test_unit_add:\n    pass",
    "import as": "from os import getcwd as test_unit_add",
    "import": "import test_module",
    "del": "del test_unit_add",
    "global": "def sneaky():\n    global test_unit_add\n    test_unit_add = print",
    "except as": "try:\n    pass\nexcept Exception as test_unit_add:\n    pass",
    "globals()[...]": "globals()['test_unit_add'] = print",
    "setattr": "import sys\nsetattr(sys.modules[__name__], 'test_module', print)",
}


@pytest.mark.parametrize("code", REBINDINGS.values(), ids=REBINDINGS.keys())
@pytest.mark.parametrize("student_edition", [False, True], ids=["reference", "student"])
def test_rebinding_a_graded_test_is_refused(code, student_edition):
    body = LATER + code + "\n"
    found = [p for p in problems(body, student_edition) if "would replace the graded test" in p.message]
    assert found, problems(body, student_edition)
    first = found[0]
    assert first.grade_id == "mine" and first.line >= line_of(body, code.splitlines()[0])
    assert any(f"defined at line {line} [{gid}]" in first.message
               for line, gid in ((8, "test-add"), (12, "test-module")))


def test_the_message_names_both_lines():
    body = LATER + "def test_unit_add():\n    pass\n"
    (found,) = problems(body)
    line = len((HEAD + GRADED + body).splitlines()) - 1  # the second-to-last line
    assert str(found).startswith(f"line {line} [mine]: def of test_unit_add would replace the graded test "
                                 "defined at line 8 [test-add]")


def test_a_rebinding_before_the_graded_cell_is_refused_too():
    text = HEAD + f"{meta('early')}\ntest_module = print\n" + GRADED
    found = validate.check(notebook.parse_text(text)[1], "tensor", source=text)
    assert [p.grade_id for p in found] == ["early"] and "test_module" in found[0].message


def test_new_tests_outside_locked_cells_only_matter_in_a_student_edition():
    body = LATER + "def test_unit_extra():\n    pass\n"
    assert problems(body) == []
    (found,) = problems(body, student_edition=True)
    assert found.grade_id == "mine" and "outside the locked test cells" in found.message


def test_rebuilding_the_text_from_cells_gives_the_same_answer():
    text = HEAD + GRADED + LATER + "test_unit_add = print\n"
    cells = notebook.parse_text(text)[1]
    assert validate.check(cells, "tensor") == validate.check(cells, "tensor", source=text) != []


MARKER_WORDS = {
    "prose": "# %% [markdown]\n# Write your code between `### BEGIN SOLUTION` and `### END SOLUTION`.\n",
    "docstring": f"{meta('given')}\ndef f():\n    \"\"\"Fill in the BEGIN SOLUTION part.\"\"\"\n",
    "trailing comment": f"{meta('sol', solution=True)}\ndef f():\n    ### BEGIN SOLUTION\n"
                        "    return 1  # END SOLUTION here\n    ### END SOLUTION\n",
    "string": f"{meta('given')}\nx = 'END SOLUTION'\n",
}


@pytest.mark.parametrize("body", MARKER_WORDS.values(), ids=MARKER_WORDS.keys())
def test_marker_words_outside_marker_lines_are_refused(body):
    text = HEAD + body
    found = validate.check(notebook.parse_text(text)[1], "tensor", source=text)
    assert len(found) == 1 and "outside a marker line" in found[0].message, found
    bad = next(i for i, ln in enumerate(text.splitlines(), 1) if "SOLUTION" in ln and ln.strip()
               not in (solutions.BEGIN, solutions.END))
    assert found[0].line == bad


def test_in_a_student_edition_a_redefined_test_cannot_score(fake_repo, tito, tmp_path):
    dest = tmp_path / "student"
    assert tito(fake_repo, "release", "student", str(dest)).exit_code == 0
    source = dest / "modules/source/01_tensor/01_tensor_dev.py"
    cheat = (f"\n{meta('cheat')}\ndef test_unit_add():\n    pass\n\n\ndef test_unit_scale():\n    pass\n\n\n"
             "def test_module():\n    pass\n")
    graded = source.read_text().splitlines().index("def test_unit_add():") + 1
    source.write_text(source.read_text() + cheat)
    line = source.read_text().splitlines().index("def test_unit_add():", graded) + 1
    for command in ("complete", "test"):
        result = tito(dest, "module", command, "01")
        assert result.exit_code == 1, result.output
        assert (f"line {line} [cheat]: def of test_unit_add would replace the graded test defined at "
                f"line {graded} [test-add]") in result.output
        assert "points)" not in result.output  # refused before any test ran
    doctor = tito(dest, "system", "doctor")
    assert doctor.exit_code == 1 and f"line {line} [cheat]: def of test_unit_add" in doctor.output


@pytest.mark.parametrize("rebind", [
    "globals().update(test_module=lambda: None)",
    "exec('def test_unit_add():\\n    pass')",
    "globals().update({n: (lambda: None) for n in list(globals()) if n.startswith('test_')})",
    "del test_module",
])
def test_a_graded_test_rebound_at_run_time_scores_nothing(tmp_path, rebind):
    """What the static check cannot see (exec, globals().update, ...) the runner catches as it runs."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    source = tmp_path / "01_tensor_dev.py"
    source.write_text(HEAD + GRADED + LATER + rebind + "\n")
    out = tmp_path / "report.json"
    subprocess.run([sys.executable, "-m", "tito.run.inline_runner", str(source), "--out", str(out),
                    "--root", str(root)], cwd=root, check=False, capture_output=True)
    tests = {t["name"]: t for t in json.loads(out.read_text())["tests"]}
    replaced = [t for t in tests.values() if t.get("error_type") == "GradingError"]
    assert replaced, f"a rebound graded test went unnoticed: {tests}"
    for t in replaced:
        assert not t["passed"] and t["points"] > 0 and "replaced or removed" in t["error"]
    assert sum(t["points"] for t in tests.values()) == 7, "the graded points still count in the total"
    assert sum(t["points"] for t in tests.values() if t["passed"]) < 7


# -- graded tests take the test helpers from tinytorch.testing themselves ---------------------------

def _helpers_used_but_not_imported(cell: notebook.Cell) -> dict[str, set[str]]:
    """function name -> helpers of tinytorch.testing it uses without importing them in the cell."""
    tree = ast.parse("\n".join(cell.lines))
    in_cell = {a.asname or a.name for node in tree.body if isinstance(node, ast.ImportFrom)
               for a in node.names}
    found = {}
    for func in (n for n in tree.body if isinstance(n, ast.FunctionDef)):
        used = {n.id for n in ast.walk(func) if isinstance(n, ast.Name) and n.id in testing.__all__}
        local = {a.asname or a.name for n in ast.walk(func) if isinstance(n, ast.ImportFrom) for a in n.names}
        if used - local - in_cell:
            found[func.name] = used - local - in_cell
    return found


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.number)
def test_graded_tests_import_the_helpers_they_use(module):
    """A helper name bound in an unlocked cell (`close`, `raises`, ...) could be rebound by a
    student's cell after it (`def close(*a, **k): pass`) and pass every graded test that uses it;
    a graded cell that imports its helpers itself cannot be fooled that way."""
    path = Path(__file__).resolve().parents[2] / module.source
    if not path.is_file():
        pytest.skip(f"{module.source} is not written yet")
    bad = {c.grade_id: found for c in notebook.parse(path)
           if c.kind == "code" and c.nbgrader and c.nbgrader.get("grade") and not c.nbgrader.get("solution")
           for found in [_helpers_used_but_not_imported(c)] if found}
    assert not bad, f"graded cells use test helpers they do not import: {bad}"


def test_property_tests_are_deterministic_and_store_no_examples():
    """A student's run replays neither a random nor a stored example: a failing example found once
    would otherwise fail every later run, correct code included (tests/conftest.py)."""
    import os

    from hypothesis import settings

    if os.environ.get("TINYTORCH_HYPOTHESIS", "tinytorch") != "tinytorch":
        pytest.skip("`make stress` runs with fresh random examples on purpose")
    assert settings().derandomize is True and settings().database is None


def test_make_stress_runs_only_the_property_tests_each_many_times():
    import os
    import subprocess
    import sys

    from .conftest import REPO

    env = {**os.environ, "TINYTORCH_HYPOTHESIS": "stress", "TINYTORCH_STRESS_RUNS": "3"}
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:xdist",
                          "tests/06_optimizers"], cwd=REPO, env=env, capture_output=True, text=True).stdout
    ids = [line for line in out.splitlines() if "::" in line]
    assert ids and all(line.endswith(("[run0]", "[run1]", "[run2]")) for line in ids), out
    assert sum(line.endswith("[run0]") for line in ids) * 3 == len(ids)
