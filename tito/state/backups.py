"""Timestamped copies of module files in `.tito/backups/`, taken before `tito module reset` overwrites one."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from tito.errors import TitoError
from tito.registry import Module
from tito.state.progress import BACKUPS, stamp

_NAME = re.compile(r"(?P<module>\d\d_\w+?)_dev\.(?P<stamp>\d{8}-\d{6}-\d{6})\.py")


def backup(root: Path, module: Module) -> Path:
    """Copy the module file to .tito/backups/NN_slug_dev.<timestamp>.py; return the copy."""
    target = root / BACKUPS / f"{module.name}_dev.{stamp()}.py"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(root / module.source, target)
    return target


def listing(root: Path, module: Module) -> list[Path]:
    """This module's backups, oldest first."""
    return sorted(p for p in (root / BACKUPS).glob(f"{module.name}_dev.*.py")
                  if _NAME.fullmatch(p.name) and _NAME.fullmatch(p.name)["module"] == module.name
                  and p.is_file() and not p.is_symlink())


def find(root: Path, module: Module, name: str) -> Path:
    """One of this module's backups, by the file name `--list-backups` shows; nothing else.

    Refuses paths (absolute, `../`, sub-folders), another module's backups, and anything
    that is not a regular file inside .tito/backups/.
    """
    listed = f"See `tito module reset {module.number} --list-backups` for the names you can restore."
    if not name or Path(name).name != name or name in (".", ".."):
        raise TitoError(f"--restore takes a backup name as listed, not a path: {name!r}.", listed)
    match = _NAME.fullmatch(name)
    if not match:
        raise TitoError(f"{name!r} is not a backup name (they look like {module.name}_dev.<time>.py).",
                        listed)
    if match["module"] != module.name:
        raise TitoError(f"{name} is a backup of {match['module']}, not of module {module.number} "
                        f"({module.name}).", listed)
    folder = (root / BACKUPS).resolve()
    candidate = root / BACKUPS / name
    if candidate.is_symlink() or not candidate.is_file() or candidate.resolve().parent != folder:
        raise TitoError(f"No backup {name!r} in {BACKUPS.as_posix()}/.", listed)
    return candidate
