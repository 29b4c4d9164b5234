"""A staging copy of the package, where a new export is tested before it replaces the real file.

    .tito/staging/<pid>-<random>/tinytorch/   copy of tinytorch/ with the new export in place
    .tito/staging/<pid>-<random>/datasets     link to the repository's datasets/ (tinytorch.datasets
                                              finds its data beside the package's folder)
    .tito/staging/<pid>-<random>/owner.lock   held (locked) while the owning tito runs
    .tito/staging/<pid>-<random>/sitecustomize.py
                                              with the folder first on PYTHONPATH, every Python
                                              process of the test run (also one a test starts
                                              itself with `python -c`, where the working
                                              directory comes first on sys.path) imports the
                                              staged `tinytorch`

A run killed with `kill -9` leaves its folder behind; the next run removes every folder whose
lock no live process holds.
"""

from __future__ import annotations

import os
import secrets
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from tito.errors import TitoError
from tito.state.atomic import write_atomic

STAGING = Path(".tito") / "staging"
LOCK = "owner.lock"
ORPHAN_AGE = 60  # seconds: a folder without a lock file this old is a run killed while starting


SITECUSTOMIZE = '''"""Written by tito/run/staging.py: in this test run, tinytorch is the staged package."""
import importlib.machinery
import importlib.util
import os
import sys

_FOLDER = os.path.dirname(os.path.abspath(__file__))


class StagedTinytorch:
    """A meta-path finder: it comes before sys.path, so the checkout's tinytorch cannot win, and
    a module missing from the staged package is missing (no other checkout's import hook fills in)."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name != "tinytorch" and not name.startswith("tinytorch."):
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, [_FOLDER] if name == "tinytorch" else path)
        if spec is None:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return spec


sys.meta_path.insert(0, StagedTinytorch)

# Run the sitecustomize this file hides, if there is one.
_others = [p for p in sys.path if os.path.abspath(p or os.curdir) != _FOLDER]
_spec = importlib.machinery.PathFinder.find_spec("sitecustomize", _others)
if _spec is not None and _spec.loader is not None:
    _spec.loader.exec_module(importlib.util.module_from_spec(_spec))
'''


@dataclass(frozen=True)
class Stage:
    folder: Path  # goes first on the test process's sys.path
    file: Path  # the staged export


def _lock(path: Path) -> IO | None:
    """Open and lock `path` for this process's lifetime; None if another live process holds it."""
    handle = open(path, "a+b")  # noqa: SIM115 - held open until the stage ends
    try:
        if os.name == "nt":
            import msvcrt

            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


def _abandoned(folder: Path) -> bool:
    """Nobody holds the folder's lock. A folder still being created (a dot-name, locked before it is
    renamed into place) or one without a lock file is judged by its age alone."""
    lock = folder / LOCK
    if folder.name.startswith(".") or not lock.exists():
        try:
            return time.time() - folder.stat().st_mtime > ORPHAN_AGE
        except OSError:
            return False
    handle = _lock(lock)
    if handle is None:
        return False
    handle.close()
    return True


def clean_stale(root: Path) -> list[Path]:
    """Remove staging folders left by runs that were killed; return them."""
    removed = []
    base = root / STAGING
    for folder in sorted(base.iterdir()) if base.is_dir() else []:
        if folder.is_dir() and _abandoned(folder):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _link_datasets(root: Path, folder: Path) -> None:
    source = root / "datasets"
    if not source.is_dir():
        return
    try:
        os.symlink(source, folder / "datasets", target_is_directory=True)
    except OSError:
        if os.name != "nt":
            raise
        import _winapi  # a junction needs no special rights on Windows

        _winapi.CreateJunction(str(source), str(folder / "datasets"))


@contextmanager
def staged(root: Path, target: Path, text: str) -> Iterator[Stage]:
    """A staging copy of `root/tinytorch` with `text` at `target` (e.g. tinytorch/tensor.py);
    removed on the way out, whatever happens."""
    clean_stale(root)
    folder = root / STAGING / f"{os.getpid()}-{secrets.token_hex(4)}"
    making = folder.with_name(f".{folder.name}")  # locked before it is visible under its real name
    making.mkdir(parents=True)
    lock = _lock(making / LOCK)
    if lock is None:  # cannot happen for a new folder of our own, unless the file system has no locks
        shutil.rmtree(making, ignore_errors=True)
        raise TitoError(f"could not lock the staging folder {making}", "Run the command again.")
    try:
        making.rename(folder)  # the lock (on the file, not its path) stays held
    except OSError:  # Windows cannot rename a folder holding an open file: keep the dot-name (judged by age)
        folder = making
    try:
        package = root / "tinytorch"
        if package.is_dir():
            shutil.copytree(package, folder / "tinytorch",
                            ignore=shutil.ignore_patterns("__pycache__", "*.tmp", "*.pyc"))
        write_atomic(folder / target, text)
        write_atomic(folder / "sitecustomize.py", SITECUSTOMIZE)
        _link_datasets(root, folder)
        yield Stage(folder, folder / target)
    finally:
        lock.close()
        shutil.rmtree(folder, ignore_errors=True)


def promote(stage: Stage, root: Path, target: Path) -> None:
    """Replace the real package file with the tested staged one, atomically."""
    (root / target).parent.mkdir(parents=True, exist_ok=True)
    os.replace(stage.file, root / target)
