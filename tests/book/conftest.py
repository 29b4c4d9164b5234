"""The book's tests: one student edition released, and its book built, per test session.

Marked `book` and run only by `make book-test` (`pytest -m book tests/book`): the build costs
about half a minute of CPU. Skipped, with the reason, where jupyter-book is not installed.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _tito(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "CI": "1"}
    done = subprocess.run([sys.executable, "-m", "tito", *args], cwd=cwd, env=env, text=True,
                          capture_output=True, timeout=600)
    assert done.returncode == 0, f"tito {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="session")
def edition(tmp_path_factory) -> Path:
    """A student edition, released by `tito release student` from this checkout."""
    dest = tmp_path_factory.mktemp("book") / "student"
    _tito("release", "student", str(dest), cwd=ROOT)
    return dest


@pytest.fixture(scope="session")
def book(edition: Path) -> Path:
    """The student edition's built book: the folder holding index.html."""
    if importlib.util.find_spec("jupyter_book") is None:
        pytest.skip("jupyter-book is not installed: `make book-test` installs the book extra")
    done = _tito("book", "build", cwd=edition)
    (edition / "_build" / "book-build.log").write_text(done.stdout + done.stderr, encoding="utf-8")
    site = edition / "_build" / "book"
    assert (site / "index.html").is_file()
    return site
