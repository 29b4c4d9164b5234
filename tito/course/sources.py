"""Read a module file as text, or say exactly which byte is not UTF-8."""

from __future__ import annotations

from pathlib import Path

from tito.errors import TitoError


def read_source(path: Path, root: Path | None = None) -> str:
    """The file's text; a TitoError naming the file, line and byte when it is not valid UTF-8.

    `root`: shown paths are relative to it (e.g. modules/source/01_tensor/01_tensor_dev.py).
    """
    path = Path(path)
    shown = path.relative_to(root).as_posix() if root and path.is_relative_to(root) else str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TitoError(f"{shown} cannot be read ({exc.strerror or exc}).",
                        "Check that the file exists and is readable.") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise TitoError(f"{shown} line {line}: byte 0x{data[exc.start]:02x} is not UTF-8 "
                        "(save the file as UTF-8)",
                        "Re-save the file as UTF-8 in your editor (e.g. VS Code: 'Save with Encoding'), "
                        "or retype the character on that line.") from exc
