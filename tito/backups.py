"""Timestamped copies of module files in `.tito/backups/`, taken before `tito module reset` overwrites one."""

from __future__ import annotations

import shutil
from pathlib import Path

from tito.errors import TitoError
from tito.registry import Module
from tito.state import BACKUPS, stamp


def backup(root: Path, module: Module) -> Path:
    """Copy the module file to .tito/backups/NN_slug_dev.<timestamp>.py; return the copy."""
    target = root / BACKUPS / f"{module.name}_dev.{stamp()}.py"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(root / module.source, target)
    return target


def listing(root: Path, module: Module) -> list[Path]:
    """This module's backups, oldest first."""
    return sorted((root / BACKUPS).glob(f"{module.name}_dev.*.py"))


def find(root: Path, module: Module, name: str) -> Path:
    """A backup by file name (as listed) or by path."""
    for candidate in (root / BACKUPS / name, Path(name)):
        if candidate.is_file():
            return candidate
    raise TitoError(f"No backup {name!r}.", f"See `tito module reset {module.number} --list-backups`.")
