"""The checks behind `tito system doctor`: each returns findings with a fix, and none may crash."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tito.course import locks, notebook, validate
from tito.course.edition import is_student_edition
from tito.course.sources import read_source
from tito.errors import TitoError
from tito.registry import available
from tito.run import isolate, runner
from tito.state import progress as state

REQUIRED = ("numpy", "typer", "rich", "jupytext")
GRADING = ("pytest", "hypothesis")  # `tito module complete` runs tests/NN_slug with these
OPTIONAL = {"jupyterlab": "pip install -e '.[notebook]'  (to open modules as notebooks)",
            "nbgrader": "pip install -e '.[instructor]'  (instructors only)"}


@dataclass(frozen=True)
class Finding:
    problem: bool  # False: a warning
    what: str
    fix: str


def version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def dependencies(base: Path) -> list[Finding]:
    found = [Finding(True, f"{d} is not installed", "pip install -e .") for d in REQUIRED if not version(d)]
    found += [Finding(True, f"{d} is not installed (needed to grade modules)", "pip install -e '.[dev]'")
              for d in GRADING if not version(d)]
    return found + [Finding(False, f"{d} is not installed (optional)", how)
                    for d, how in OPTIONAL.items() if not version(d)]


def progress(base: Path) -> list[Finding]:
    broken = state.problem(base)
    if broken is None:
        return []
    if isinstance(broken, state.UntouchableState):  # --fix must not drop a readable student's records
        return [Finding(True, broken.message, broken.hint or "")]
    fix = ("tito system doctor --fix  (saves the file in .tito/backups/, keeps the valid entries, "
           "drops the bad ones; `--restore NAME` puts a saved file back)")
    return [Finding(True, broken.message, fix)]


def locked_cells(base: Path) -> list[Finding]:
    try:
        locks.load(base)
    except TitoError as exc:
        return [Finding(True, exc.message, exc.hint or "")]
    found = []
    for m in available(base):
        try:
            locks.required(base, m)
        except TitoError as exc:
            found.append(Finding(True, exc.message, exc.hint or ""))
    return found


def own_tinytorch(base: Path) -> list[Finding]:
    foreign = isolate.foreign_tinytorch(base)
    if not foreign:
        return []
    return [Finding(True, f"{foreign}, outside this repository {base}: tito will not test or grade here",
                    isolate.fix_hint(base))]


def package_imports(base: Path) -> list[Finding]:
    """Import tinytorch in a fresh interpreter as a student script would."""
    code = "from tito.run.isolate import scrub; scrub('.'); import tinytorch"
    proc = subprocess.run([sys.executable, "-c", code], cwd=base, env=runner.env(base), capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)
    if not proc.returncode:
        return []
    failure = (proc.stderr.strip().splitlines() or ["unknown error"])[-1]
    return [Finding(True, f"tinytorch does not import: {failure}",
                    "tito export --check, then `tito module complete NN` for the module named above")]


def scripts_import(base: Path) -> list[Finding]:
    """Where `import tinytorch` goes for scripts run outside tito, when that is not this checkout."""
    code = "import importlib.util as u; s = u.find_spec('tinytorch'); print(s.origin if s else '')"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=Path.home(), env=env, capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)
    origin = proc.stdout.strip()
    if origin and not Path(origin).resolve().is_relative_to(base.resolve()):
        return [Finding(False, f"outside tito, `import tinytorch` loads {origin}",
                        f"pip install -e {base}  (so your own scripts use this checkout)")]
    return []


def module_files(base: Path) -> list[Finding]:
    """Each module file: UTF-8, valid Python, valid cells, graded tests as released."""
    student = is_student_edition(base)
    found = []
    for m in available(base):
        reset = (f"or `tito module reset {m.number}` (keeps a backup of your file)" if student
                 else "or restore it with git")
        try:
            text = read_source(base / m.source, base)
        except TitoError as exc:
            found.append(Finding(True, exc.message, f"{(exc.hint or '').rstrip('.')}; {reset}"))
            continue
        try:
            compile(text, str(m.source), "exec")
        except SyntaxError as exc:
            found.append(Finding(True, f"{m.source.as_posix()} line {exc.lineno}: {exc.msg}",
                                 f"fix that line, {reset}"))
            continue
        try:
            released = locks.required(base, m)
        except TitoError:
            released = None  # reported by locked_cells
        problems = validate.check(notebook.parse_text(text)[1], m.slug, require_markers=not student,
                                  released=released, source=text, student_edition=student)
        found += [Finding(True, f"{m.source.as_posix()} {p}",
                          f"fix it (`tito module test {m.number}` lists them all), {reset}")
                  for p in problems]
    return found


CHECKS: tuple[tuple[str, Callable[[Path], list[Finding]]], ...] = (
    ("dependencies", dependencies), ("progress file", progress), ("locked cells", locked_cells),
    ("which tinytorch is imported", own_tinytorch), ("package import", package_imports),
    ("module files", module_files), ("scripts' tinytorch", scripts_import),
)


def run_all(base: Path) -> list[Finding]:
    """Every check's findings; a check that breaks is itself reported, never raised."""
    found = []
    for name, check in CHECKS:
        try:
            found += check(base)
        except Exception as exc:  # noqa: BLE001 - the doctor must report, not crash
            found.append(Finding(True, f"the {name} check could not run: {type(exc).__name__}: {exc}",
                                 "report this at the course's issue tracker, with the message above"))
    return found
