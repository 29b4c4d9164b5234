"""End to end on the real course: the student edition's stubs fail honestly; the reference passes.

One release per test session; each module's journey runs in that edition.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tito.course import leaks
from tito.course.edition import is_student_edition
from tito.registry import MILESTONES, available, get_module
from tito.state.progress import STATE_FILE

from .conftest import CI_ENV, REPO, run_tito

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(is_student_edition(REPO), reason="needs the reference solutions")]


@pytest.fixture(scope="module")
def edition(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("journey") / "student"
    result = run_tito(REPO, "release", "student", str(dest))
    assert result.returncode == 0, result.stdout + result.stderr
    return dest


def test_edition_holds_no_solution_line(edition):
    files = {p.relative_to(edition): p for p in edition.rglob("*")
             if p.is_file() and ".git" not in p.relative_to(edition).parts}
    assert leaks.scan_files(leaks.solution_code_of(REPO, available(REPO)), files) == []
    assert not any((edition / m.export_target).exists() for m in available(REPO))


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_demo_shows_status_and_the_next_step(edition, tmp_path):
    """Before any module is written, `make demo` points at module 01 instead of failing on it.
    The venv is a stand-in (bin/python is this interpreter) so that make installs nothing."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    for name, command in (("python", '"$@"'), ("tito", '-m tito "$@"')):
        (venv / "bin" / name).write_text(f'#!/bin/sh\nexec "{sys.executable}" {command}\n')
        (venv / "bin" / name).chmod(0o755)
    (venv / ".dev").touch()
    result = subprocess.run(["make", "--no-print-directory", "demo", f"VENV={venv}"], cwd=edition,
                            env=CI_ENV, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0/20 modules completed" in result.stdout and "Next: `tito module start 01`" in result.stdout
    assert "Inline tests" not in result.stdout and not (edition / STATE_FILE).exists()


@pytest.mark.parametrize("number", [m.number for m in available(REPO)])
def test_stub_fails_with_counts_and_reference_passes(edition, number):
    """In course order, so each module finds the ones before it completed in the edition."""
    module = get_module(number)
    result = run_tito(edition, "module", "complete", number)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    counts = re.search(r"Inline tests: (\d+) passed, (\d+) failed", output)
    assert counts and counts.group(1) == "0" and int(counts.group(2)) > 0, f"all must fail:\n{output}"
    assert "NotImplementedError" in output and "nothing recorded" in output
    state = edition / STATE_FILE
    recorded = json.loads(state.read_text())["modules"] if state.exists() else {}
    assert "completed" not in recorded.get(number, {}) and not (edition / module.export_target).exists()

    shutil.copy(REPO / module.source, edition / module.source)
    result = run_tito(edition, "module", "complete", number)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert re.search(r"Inline tests: \d+ passed, 0 failed", output)
    assert re.search(rf"Package tests \({module.tests.as_posix()}\): \d+ passed, 0 failed", output)
    assert json.loads((edition / STATE_FILE).read_text())["modules"][number]["completed"]


def test_the_students_package_is_the_reference_byte_for_byte(edition):
    """After the journey above, every exported file is the reference's: so the milestones below
    train the same models as tests/milestones (M05's and M06's GPTs come from the run's training
    cache, see milestones/_common.py's train_or_reuse, instead of being trained twice)."""
    for module in available(REPO):
        assert (edition / module.export_target).read_bytes() == (REPO / module.export_target).read_bytes()


@pytest.mark.parametrize("milestone", [ms.id for ms in MILESTONES
                                       if all((REPO / ms.path / s).is_file() for s in ms.scripts)])
def test_milestones_pass_with_the_students_package(edition, milestone):
    """Every available milestone, run by `tito milestone run` on the edition's own package."""
    result = run_tito(edition, "milestone", "run", milestone, timeout=500)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "RESULT: reached" in result.stdout
