"""Which edition this checkout is, and the pristine released copy of each module file.

The student edition (written by `tito release student`) keeps a copy of every module file as
released under `modules/.released/`; `tito module reset` restores from it. The reference
repository has no such folder: there the released file is rebuilt by stripping the solutions.
"""

from __future__ import annotations

from pathlib import Path

from tito.course.sources import read_source
from tito.course.stubs import strip_solutions
from tito.errors import TitoError
from tito.registry import Module

RELEASED = Path("modules") / ".released"


def is_student_edition(root: Path) -> bool:
    return (root / RELEASED).is_dir()


def student_text(module: Module, reference: str) -> str:
    """The module file as students receive it: every solution region replaced by a stub."""
    try:
        return strip_solutions(reference, module.number)
    except ValueError as exc:
        raise TitoError(f"{module.source.as_posix()}: {exc}.",
                        "Fix the solution regions (`tito module test` shows every problem).") from exc


def released_copy(module: Module) -> Path:
    """Where the student edition keeps the file as released (relative to the root)."""
    return RELEASED / module.name / f"{module.name}_dev.py"


def released_text(root: Path, module: Module) -> str:
    """The module file as released: the stored copy, or the stripped reference."""
    stored = root / released_copy(module)
    if stored.is_file():
        return read_source(stored, root)
    if is_student_edition(root):
        raise TitoError(f"The released copy {released_copy(module)} is missing.",
                        "Restore it from your course's student repository.")
    return student_text(module, read_source(root / module.source, root))
