"""`make demo` in the reference repository completes every module, then runs every milestone.

The venv is a stand-in (its `tito` records its arguments), so this checks what make runs, in
order, without setting up or training anything. The student edition's `make demo` is checked in
tests/toolchain/test_student_journey.py, in a real edition.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def stand_in_venv(folder: Path, tito: str) -> Path:
    """A venv folder make accepts as set up: bin/python is this interpreter, bin/tito runs `tito`."""
    (folder / "bin").mkdir(parents=True)
    (folder / "bin" / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (folder / "bin" / "tito").write_text(f"#!/bin/sh\n{tito}\n")
    for name in ("python", "tito"):
        (folder / "bin" / name).chmod(0o755)
    (folder / ".dev").touch()  # newer than pyproject.toml: make installs nothing
    return folder


def make_demo(venv: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", "demo", f"VENV={venv}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_reference_demo_completes_modules_then_runs_milestones(tmp_path):
    calls = tmp_path / "calls"
    result = make_demo(stand_in_venv(tmp_path / "venv", f'echo "$*" >> {calls}'))
    assert result.returncode == 0, result.stdout + result.stderr
    assert calls.read_text().splitlines() == ["module complete --all", "milestone run --all"]


def test_reference_demo_stops_when_a_module_fails(tmp_path):
    calls = tmp_path / "calls"
    result = make_demo(stand_in_venv(tmp_path / "venv", f'echo "$*" >> {calls}; exit 1'))
    assert result.returncode != 0
    assert calls.read_text().splitlines() == ["module complete --all"]
