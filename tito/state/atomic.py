"""Write a file so that readers see either the old content or the new one, never half of it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, text: str | bytes) -> None:
    """Write `text` (or bytes, as they are) to `path` through a temporary file in the same folder,
    then rename it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    renamed = False
    try:
        os.chmod(tmp, _mode_for(path))  # mkstemp makes it 0600: keep the file's mode, or the usual one
        binary = isinstance(text, bytes)
        with open(fd, "wb") if binary else open(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(fd)  # on disk before the rename makes it visible
        Path(tmp).replace(path)  # atomic: readers see the old file or the new one
        renamed = True
    finally:
        if not renamed:
            Path(tmp).unlink(missing_ok=True)


def _mode_for(path: Path) -> int:
    """The permission bits the file has now, or for a new file what `open()` would give (0666 less the
    umask): a replaced file must not become private (0600) as a side effect."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask
