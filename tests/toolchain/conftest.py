"""Fixtures for toolchain tests: a small fake repository and ways to run `tito` inside it."""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tito import cli
from tito.errors import TitoError

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"
CI_ENV = {**os.environ, "CI": "1", "PYTHONPATH": ""}


@functools.cache
def graded_points(number: str) -> float:
    """The points of a module's graded cells in the reference (what a full grade is)."""
    from tito.course import notebook
    from tito.registry import get_module

    cells = notebook.parse(REPO / get_module(number).source)
    return float(sum((c.nbgrader or {}).get("points", 0) for c in cells if (c.nbgrader or {}).get("grade")))


def has_nbgrader() -> bool:
    """Is the instructor extra (nbgrader and its command) installed in this environment?"""
    from tito.grading import nbgrader_course

    try:
        nbgrader_course.nbgrader_bin()
    except TitoError:
        return False
    return True


needs_nbgrader = pytest.mark.skipif(not has_nbgrader(), reason="nbgrader is not installed "
                                                              "(pip install -e '.[instructor]')")


@functools.cache
def clean_python() -> str:
    """An interpreter that sees this venv's packages but not its editable install of this checkout.

    A student's venv holds their own checkout only; this one's editable finder would map any
    `tinytorch.<name>` missing in a fake repository to this checkout, and tito refuses to grade
    there (tito.run.isolate.foreign_tinytorch). So tito runs in the fake repositories use this.
    """
    folder = Path(tempfile.mkdtemp(prefix="tito-clean-venv-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = folder / "bin" / "python"
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             check=True, capture_output=True, text=True).stdout.strip()
    # A plain path line: the packages are importable, their .pth hooks are not run.
    Path(purelib, "dev-packages.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return str(python)


def add_module(repo: Path, name: str) -> Path:
    """Copy fixture module `name` (e.g. "01_tensor") and its package suite into `repo`."""
    source = repo / "modules" / "source" / name / f"{name}_dev.py"
    source.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(FIXTURES / f"{name}_dev.py", source)
    suite = repo / "tests" / name / f"test_{name[3:]}.py"
    suite.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(FIXTURES / f"suite_{name}.py", suite)
    return source


@pytest.fixture
def fake_repo(tmp_path: Path) -> Path:
    """A repository with the real `tito`, a provided `tinytorch/` and fixture module 01."""
    repo = tmp_path / "repo"
    shutil.copytree(REPO / "tito", repo / "tito", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", repo / "pyproject.toml")
    (repo / "docs").mkdir()
    shutil.copy(REPO / "docs" / "STUDENT_README.md", repo / "docs" / "STUDENT_README.md")
    (repo / "README.md").write_text("# Reference README\n")
    (repo / "tinytorch").mkdir()
    (repo / "tinytorch" / "__init__.py").write_text('"""Provided."""\n__version__ = "0.1.0"\n')
    (repo / "tinytorch" / "datasets.py").write_text('"""Provided data loaders."""\n')
    add_module(repo, "01_tensor")
    return repo


@pytest.fixture
def tito(monkeypatch: pytest.MonkeyPatch) -> Callable[..., object]:
    """Run `tito ARGS` in-process (Typer's CliRunner) from folder `cwd`."""

    def invoke(cwd: Path, *args: str):
        monkeypatch.chdir(cwd)
        monkeypatch.setenv("CI", "1")
        monkeypatch.setattr(sys, "executable", clean_python())  # what tito starts its children with
        return CliRunner().invoke(cli.app, list(args))

    return invoke


def run_tito(cwd: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run `python -m tito ARGS` in a subprocess, as CI would (CI=1, output piped).

    The checkout holding `cwd` is on the import path, as its own editable install would put it.
    """
    checkout = next(p for p in (cwd, *cwd.parents) if (p / "tito" / "registry.py").is_file())
    env = {**CI_ENV, "PYTHONPATH": str(checkout)}
    return subprocess.run([clean_python(), "-m", "tito", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)
