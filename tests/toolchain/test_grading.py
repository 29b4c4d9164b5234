"""Honest grading (tito.grading.grader, `tito grade NN`): the points come from the student's own code.

The graded module runs in an isolated Python whose `tinytorch` holds only the reference of its
prerequisites: nothing of this checkout's package, of the editable install, or of the module
itself can stand in for a student's cell.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tito import cli
from tito.course import exporter, notebook
from tito.course.edition import released_text
from tito.grading.grader import (
    grade_file,
    grading_package,
    isolated_python_argv,
    jail_env,
    plan_cells,
    prerequisites,
    run_cells,
)
from tito.registry import MODULES, get_module

from .conftest import graded_points

REPO = Path(__file__).resolve().parents[2]
AUTOGRAD = get_module("05")


def _reference(number: str) -> str:
    return (REPO / get_module(number).source).read_text(encoding="utf-8")


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _insert_after_header(text: str, grade_id: str, line: str) -> str:
    """`line` as the first line of the cell whose nbgrader grade_id is `grade_id`."""
    lines = text.splitlines()
    at = next(i for i, ln in enumerate(lines) if ln.startswith("# %%") and f'"grade_id": "{grade_id}"' in ln)
    lines.insert(at + 1, line)
    return "\n".join(lines) + "\n"


def _new_cell_before(text: str, grade_id: str, code: str) -> str:
    """A new ungraded code cell holding `code`, just before the cell whose grade_id is `grade_id`."""
    lines = text.splitlines()
    at = next(i for i, ln in enumerate(lines) if ln.startswith("# %%") and f'"grade_id": "{grade_id}"' in ln)
    lines[at:at] = ["# %%", *code.splitlines(), ""]
    return "\n".join(lines) + "\n"


def _points(report) -> dict[str, float]:
    return {c.grade_id: c.points for c in report.cells}


# -- the package --------------------------------------------------------------------------------

def test_prerequisites_are_transitive_and_exclude_the_module():
    assert [m.number for m in prerequisites("01")] == []
    assert [m.number for m in prerequisites("05")] == ["01", "02", "03", "04"]
    assert [m.number for m in prerequisites("13")] == ["01", "02", "03", "04", "05", "06", "07",
                                                       "10", "11", "12"]


def test_grading_package_holds_the_reference_of_the_prerequisites_only(tmp_path):
    dest = grading_package(REPO, "05", tmp_path / "pkg")
    files = {p.name for p in (dest / "tinytorch").iterdir()}
    provided = {p.name for p in exporter.provided_files(REPO)}
    assert files == provided | {"tensor.py", "activations.py", "layers.py", "losses.py"}
    assert "autograd.py" not in files and "optimizers.py" not in files  # the module itself, a later one
    for m in prerequisites("05"):  # built from the module sources, not copied from tinytorch/
        assert (dest / m.export_target).read_text(encoding="utf-8") == exporter.generate(REPO, m)
    assert (dest / "datasets" / "tinydigits.npz").is_file()  # where tinytorch.datasets looks


def _earlier_modules_imported(number: str) -> set[str]:
    """Numbers of the earlier modules whose `tinytorch.<slug>` the module file imports."""
    by_slug = {m.slug: m.number for m in MODULES}
    names = set()
    for node in ast.walk(ast.parse(_reference(number))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    found = {by_slug.get(n.split(".")[1]) for n in names if n.startswith("tinytorch.") and n.count(".") == 1}
    return {n for n in found if n and n < number}  # (a later one is imported lazily, e.g. 01's backward)


@pytest.mark.parametrize("number", [m.number for m in MODULES if (REPO / m.source).is_file()])
def test_every_earlier_module_a_file_imports_is_a_prerequisite(number):
    """Otherwise the grading package lacks it and the reference itself loses points."""
    missing = _earlier_modules_imported(number) - {m.number for m in prerequisites(number)}
    assert not missing, f"module {number} imports modules {sorted(missing)}, not among its prerequisites"


# -- the isolated Python ------------------------------------------------------------------------

_PROBE = """
import importlib, json, sys
found = {}
for name in ["tinytorch", "tinytorch.tensor", "tinytorch.autograd", "tinytorch.optimizers", "tito"]:
    try:
        found[name] = importlib.import_module(name).__file__
    except ImportError as exc:
        found[name] = "ImportError: " + str(exc)
print(json.dumps(found))
"""


def _editable_pth() -> list[Path]:
    site = Path(sysconfig.get_paths()["purelib"])
    return [p for p in site.glob("__editable__*tinytorch*.pth")]


def test_isolated_python_reaches_nothing_but_the_grading_package(tmp_path, monkeypatch):
    dest = grading_package(REPO, "05", tmp_path / "pkg")
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # an inherited path to a checkout is dropped too
    env = {**jail_env(dest), "PATH": os.environ["PATH"]}
    # cwd = the repository root, which holds a full tinytorch/ (module 05 and later included)
    proc = subprocess.run([*isolated_python_argv(), "-c", _PROBE], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)
    package = (dest / "tinytorch").resolve()
    assert Path(found["tinytorch"]).resolve() == package / "__init__.py"
    assert Path(found["tinytorch.tensor"]).resolve() == package / "tensor.py"
    for absent in ("tinytorch.autograd", "tinytorch.optimizers", "tito"):
        assert found[absent].startswith("ImportError"), f"{absent} was reachable: {found[absent]}"


def test_without_isolation_the_editable_install_would_leak(tmp_path):
    """The control: the same import in this venv's normal Python finds the checkout's autograd.py
    through the editable install's hook, so the isolated test above has something to prove."""
    if not _editable_pth():
        pytest.skip("this environment has no editable install of tinytorch (nothing could leak)")
    dest = grading_package(REPO, "05", tmp_path / "pkg")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    code = f"import sys; sys.path.insert(0, {str(dest)!r});" + _PROBE
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    found = json.loads(proc.stdout)
    assert Path(found["tinytorch"]).resolve() == (dest / "tinytorch" / "__init__.py").resolve()
    assert Path(found["tinytorch.autograd"]).resolve() == (REPO / "tinytorch" / "autograd.py").resolve()


# -- grading: full points, zero, exactly the cells that still pass ------------------------------

def _points_of(module) -> float:
    cells = notebook.parse(REPO / module.source)
    return sum(float(c.nbgrader.get("points", 0)) for c in cells
               if c.nbgrader and c.nbgrader.get("grade") and not c.nbgrader.get("solution"))


@pytest.mark.parametrize("number", [m.number for m in MODULES if (REPO / m.source).is_file()])
def test_reference_gets_full_points_and_the_release_zero(tmp_path, number):
    """Every module, graded in isolation (its prerequisites' reference only, the shipped data): a
    test that needs anything else (a file of the repository, a later module) would cost the
    reference points with every instructor."""
    m = get_module(number)
    full = _points_of(m)
    seed = int(number) * 1009  # one seed for both: the reference's own run is made once
    reference = grade_file(REPO, number, REPO / m.source, seed=seed)
    assert reference.max_total == full > 0 and reference.total == full, reference.to_dict()
    assert reference.crash is None and reference.errors == []
    stub = grade_file(REPO, number, _write(tmp_path, "stub.py", released_text(REPO, m)), seed=seed)
    assert stub.max_total == full and stub.total == 0, stub.to_dict()
    assert all("NotImplementedError" in c.message for c in stub.cells), stub.to_dict()


# The syntax error wipes out the arithmetic rules cell (add/sub/mul/div backward) only: the cells
# testing other rules directly still pass; every cell that runs backward through arithmetic fails.
STILL_PASSING_05 = {"test-unbroadcast": 5, "test-unary-rules": 5, "test-matmul-rule": 10,
                    "test-reduction-rules": 10, "test-shape-rules": 10, "test-activation-rules": 10,
                    "test-loss-rules": 10}


def _broken_05(tmp_path: Path) -> Path:
    text = _insert_after_header(_reference("05"), "arithmetic-rules", "def broken(:")
    return _write(tmp_path, "broken.py", text)


def test_a_broken_cell_costs_exactly_the_cells_that_depend_on_it(tmp_path):
    report = grade_file(REPO, "05", _broken_05(tmp_path))
    assert {g: p for g, p in _points(report).items() if p} == STILL_PASSING_05
    assert report.total == sum(STILL_PASSING_05.values()) == 60 and report.max_total == 115
    assert any(e.startswith("arithmetic-rules: SyntaxError") for e in report.errors), report.errors


def test_a_broken_cell_is_never_rescued_by_the_reference(tmp_path):
    """With the reference autograd.py in the package (as in the instructor's tinytorch/, which
    imports it at start-up) the same file scores more: the reference rules stand in for the broken
    cell. The grading package has no autograd.py, so it cannot."""
    m = AUTOGRAD
    cells, _ = plan_cells(REPO, m, _broken_05(tmp_path))
    graded = [i for i, c in enumerate(cells) if c.graded]
    scores = {}
    for leaky in (False, True):
        dest = grading_package(REPO, "05", tmp_path / f"pkg-{leaky}")
        if leaky:
            (dest / m.export_target).write_text(exporter.generate(REPO, m), encoding="utf-8")
        run = run_cells(dest, cells, timeout=300)
        assert run.crash is None
        scores[leaky] = sum(cells[i].meta["points"] for i in graded if run.cells[i]["ok"])
    assert scores[False] == 60
    assert scores[True] > scores[False], scores


def test_edited_or_deleted_graded_cells_run_as_released(tmp_path):
    """As nbgrader's autograde does: a locked graded cell runs as released (an edit that makes it
    pass does not count), and a deleted one scores 0."""
    stub = released_text(REPO, get_module("01"))
    lines = stub.splitlines()
    at = next(i for i, ln in enumerate(lines) if '"grade_id": "test-creation"' in ln)
    # an edit that would pass: the released body no longer runs
    lines.insert(at + 1, "def test_unit_creation():\n    pass\n\n\nif False:")
    start = next(i for i, ln in enumerate(lines) if '"grade_id": "test-module"' in ln)
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("# %%"))
    del lines[start:end]
    report = grade_file(REPO, "01", _write(tmp_path, "edited.py", "\n".join(lines) + "\n"))
    cells = {c.grade_id: c for c in report.cells}
    assert report.total == 0 and report.max_total == graded_points("01")
    assert "NotImplementedError" in cells["test-creation"].message
    assert cells["test-module"].line is None and "missing" in cells["test-module"].message


def test_a_cell_cannot_switch_the_graded_tests_off(tmp_path):
    """Graded cells call their test under `if __name__ == "__main__":`; renaming the namespace
    would turn them into definitions that always pass."""
    text = _new_cell_before(released_text(REPO, get_module("01")), "test-creation", '__name__ = "student"')
    assert grade_file(REPO, "01", _write(tmp_path, "renamed.py", text)).total == 0


FORGE = """
import json, os
lines = [json.dumps({"index": i, "ok": True, "output": ""}) for i in range(300)]
lines += [json.dumps({"probe": name, "grade_id": gid, "ok": True, "values": {"x": 1.0}})
          for gid, name in [("test-creation", "creation"), ("test-arithmetic", "arithmetic")]]
for fd in range(3, 64):
    try:
        os.write(fd, ("\\n".join(lines) + "\\n").encode())
    except OSError:
        pass
os._exit(0)
"""


def test_forged_results_and_an_early_exit_score_nothing(tmp_path):
    """The cheat that scored 55/55 on an all-stub file: ok-lines written into every open file, then
    `os._exit(0)`. The cells' lines say "ok", but the probes (values the stub cannot compute) fail."""
    text = _new_cell_before(released_text(REPO, get_module("01")), "test-creation", FORGE)
    report = grade_file(REPO, "01", _write(tmp_path, "forged.py", text))
    assert report.total == 0, report.to_dict()
    assert all(c.message.startswith("probe ") for c in report.cells), [c.message for c in report.cells]
    stub = grade_file(REPO, "01", _write(tmp_path, "stub.py", released_text(REPO, get_module("01"))))
    assert all(c.message.startswith("NotImplementedError") and c.probe_failures for c in stub.cells), \
        "a failed test's message comes first; the probes' verdicts are kept beside it"


STEAL = f"""
import glob
found = glob.glob({str(REPO / "modules")!r} + "/**/01_tensor*.py", recursive=True)
for path in found + [{str(REPO / "tinytorch/tensor.py")!r}]:
    try:
        exec(open(path).read().replace("raise NotImplementedError", "pass"))
        break
    except Exception:
        pass
"""


def test_the_reference_on_disk_is_out_of_reach(tmp_path):
    """A cell that runs the instructor's reference over the stub: in the jail there is nothing to
    find. Without it (--unsafe) the same file takes full marks: the jail is what stops it."""
    text = _new_cell_before(released_text(REPO, get_module("01")), "test-creation", STEAL)
    path = _write(tmp_path, "steal.py", text)
    assert grade_file(REPO, "01", path).total == 0
    assert grade_file(REPO, "01", path, unsafe=True).total == graded_points("01")


def test_an_endless_cell_times_out_and_the_next_cells_run(tmp_path):
    text = _new_cell_before(_reference("01"), "tensor-test-helpers", "while True:\n    pass")
    report = grade_file(REPO, "01", _write(tmp_path, "loop.py", text), timeout=2)
    assert report.total == graded_points("01") and report.crash is None
    assert any("did not finish within 2 s" in e for e in report.errors), report.errors


def test_a_cell_that_ignores_its_time_limit_is_stopped_from_outside(tmp_path):
    """SIGALRM ignored and every exception swallowed: the cell cannot stop itself, so tito stops the
    run a grace after the cell's limit (once the whole budget: 136 s for --timeout 5)."""
    loop = "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n    try:\n" \
           "        pass\n    except BaseException as everything:\n        pass"
    text = _new_cell_before(_reference("01"), "test-matmul", loop)
    began = time.monotonic()
    report = grade_file(REPO, "01", _write(tmp_path, "deaf.py", text), timeout=2)
    assert time.monotonic() - began < 60
    assert report.total == 0 and "a step ran past its 2 s limit and did not stop itself" in report.crash


def test_a_run_over_its_overall_budget_is_stopped(tmp_path):
    """The cells before the hang pass their tests, but their probes run after the file's own code,
    which never ends: nothing can be verified, so nothing scores."""
    text = _new_cell_before(_reference("01"), "test-matmul", "while True:\n    pass")
    report = grade_file(REPO, "01", _write(tmp_path, "hang.py", text), timeout=600, overall=5)
    assert report.total == 0 and report.crash.startswith("stopped: it did not finish within 5 s"), \
        report.to_dict()
    creation = next(c for c in report.cells if c.grade_id == "test-creation")
    assert creation.message == "probe 'creation' did not run: stopped: it did not finish within 5 s", creation


def test_a_process_that_dies_scores_nothing_after_it_and_no_unverified_cell(tmp_path):
    text = _new_cell_before(_reference("01"), "test-matmul", "import os\nos._exit(3)")
    report = grade_file(REPO, "01", _write(tmp_path, "exit.py", text))
    assert report.total == 0 and "exit code 3" in report.crash
    messages = {c.grade_id: c.message for c in report.cells}
    assert messages["test-creation"].startswith("probe 'creation' did not run: the grading process ended "
                                                "(exit code 3)"), messages
    assert all(messages[g] == "did not run" for g in messages
               if g not in ("test-creation", "test-arithmetic"))


def test_a_notebook_grades_like_its_percent_file(tmp_path):
    jupytext = pytest.importorskip("jupytext")
    notebook = tmp_path / "01_tensor_dev.ipynb"
    nb = jupytext.read(REPO / get_module("01").source)
    nbformat = pytest.importorskip("nbformat")
    nb.cells.insert(1, nbformat.v4.new_code_cell("%matplotlib inline\n!echo an IPython-only line"))
    jupytext.write(nb, notebook)
    report = grade_file(REPO, "01", notebook)
    assert report.total == report.max_total == graded_points("01") and report.errors == [], report.to_dict()


# -- the command --------------------------------------------------------------------------------

def test_tito_grade_prints_the_table_and_records_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    state = REPO / ".tito"

    def snapshot() -> list:
        files = state.rglob("*") if state.exists() else []
        return sorted((p.relative_to(state), p.stat().st_mtime_ns) for p in files)

    before = snapshot()
    broken = _broken_05(tmp_path)
    result = CliRunner().invoke(cli.app, ["grade", "05", "--file", str(broken), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["total"] == 60 and data["max_total"] == 115 and len(data["cells"]) == 14
    result = CliRunner().invoke(cli.app, ["grade", "05", "--file", str(broken)])
    assert result.exit_code == 0, result.output
    assert "Total: 60 / 115" in result.output and "test-arithmetic-rules" in result.output
    assert snapshot() == before


def test_without_a_jail_grading_refuses_and_says_why_unless_unsafe(monkeypatch):
    """The refusal path, wherever the tests run: no bubblewrap here (a bwrap that does not exist)."""
    from tito.grading import jail

    monkeypatch.chdir(REPO)
    monkeypatch.setenv(jail.BWRAP_ENV, "/nonexistent/bwrap")
    jail.problem.cache_clear()
    try:
        result = CliRunner().invoke(cli.app, ["grade", "01"])
        assert result.exit_code == 1, result.output
        text = " ".join(result.output.split())
        assert "graded only in a jail, and none can be made here: bubblewrap could not start" in text, text
        assert "--unsafe" in text
        result = CliRunner().invoke(cli.app, ["grade", "01", "--unsafe", "--seed", "7"])
        assert result.exit_code == 0, result.output
        text = " ".join(result.output.split())
        assert "Total: 70 / 70" in text and "no jail (--unsafe)" in text and "(seed 7)" in text, text
    finally:
        monkeypatch.delenv(jail.BWRAP_ENV)
        jail.problem.cache_clear()


def test_tito_grade_refuses_another_modules_file(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    other = shutil.copy(REPO / AUTOGRAD.source, tmp_path / "05.py")
    result = CliRunner().invoke(cli.app, ["grade", "01", "--file", str(other)])
    assert result.exit_code == 1
    assert "is not module 01" in result.output and "tinytorch/autograd.py" in result.output


def test_tito_grade_names_a_folder_given_as_the_file(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    result = CliRunner().invoke(cli.app, ["grade", "01", "--file", str(tmp_path)])
    assert result.exit_code == 1 and "is a folder, not a module file" in " ".join(result.output.split())
    result = CliRunner().invoke(cli.app, ["grade", "01", "--file", str(tmp_path / "nothing.py")])
    assert result.exit_code == 1 and "does not exist" in result.output
