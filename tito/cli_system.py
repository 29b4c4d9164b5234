"""`tito system ...`: what this machine runs, and a health check with fixes."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import re
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from tito import console, locks, notebook, runner, state
from tito.cli_base import new_app, root
from tito.console import esc
from tito.edition import is_student_edition
from tito.errors import TitoError
from tito.registry import MODULES, available

app = new_app("Information about this setup, and a health check.")

REQUIRED = ("numpy", "typer", "rich", "jupytext")
GRADING = ("pytest", "hypothesis")  # `tito module complete` runs tests/NN_slug with these
OPTIONAL = {"jupyterlab": "pip install -e '.[notebook]'  (to open modules as notebooks)",
            "nbgrader": "pip install -e '.[instructor]'  (instructors only)"}


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _blas() -> str:
    try:
        import numpy

        blas = numpy.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception as exc:  # numpy builds differ; this line is informational only
        return f"unknown ({type(exc).__name__})"


def _threads() -> str:
    if importlib.util.find_spec("threadpoolctl") is None:
        return "threadpoolctl not installed"
    from threadpoolctl import threadpool_info

    return "; ".join(f"{i.get('internal_api')} {i.get('num_threads')} threads" for i in threadpool_info())


def _package_version(base: Path) -> str:
    init = base / "tinytorch" / "__init__.py"
    found = re.search(r'__version__\s*=\s*"([^"]+)"', init.read_text()) if init.exists() else None
    return found.group(1) if found else "unknown"


@app.command()
def info() -> None:
    """Show Python, OS, CPUs, NumPy and BLAS, the package version, the repository and your progress."""
    base = root()
    rows = [
        ["Python", f"{platform.python_version()} ({sys.executable})"],
        ["OS", f"{platform.system()} {platform.release()} ({platform.machine()})"],
        ["CPUs", str(os.cpu_count())],
        ["NumPy", _version("numpy") or "not installed"],
        ["BLAS", _blas()],
        ["Threads", _threads()],
        ["tinytorch", _package_version(base)],
        ["Repository", f"{base} ({'student edition' if is_student_edition(base) else 'reference'})"],
        ["Modules written", f"{len(available(base))}/{len(MODULES)}"],
    ]
    problem = state.problem(base)
    if problem is None:
        progress = state.Progress.load(base)
        done = sum(1 for m in MODULES if progress.completed(m.number))
        rows.append(["Progress", f"{done}/{len(MODULES)} modules completed"])
    console.table(["Item", "Value"], [[k, esc(v)] for k, v in rows])
    if problem:
        raise state.StateError(problem, state.FIX_HINT)


def _import_check(base: Path) -> str | None:
    """Import tinytorch in a fresh interpreter as a student script would; the error, if any."""
    code = "from tito.isolate import scrub; scrub('.'); import tinytorch"
    proc = subprocess.run([sys.executable, "-c", code],
                          cwd=base, env=runner.env(base), capture_output=True, text=True, timeout=120)
    if proc.returncode:
        return (proc.stderr.strip().splitlines() or ["unknown error"])[-1]
    return None


def _installed_elsewhere(base: Path) -> str | None:
    """Where `import tinytorch` goes for scripts run outside tito, when that is not this checkout."""
    code = "import importlib.util as u; s = u.find_spec('tinytorch'); print(s.origin if s else '')"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=Path.home(), env=env, capture_output=True,
                          text=True, timeout=120)
    origin = proc.stdout.strip()
    if origin and not Path(origin).resolve().is_relative_to(base.resolve()):
        return origin
    return None


def _source_problems(base: Path) -> list[tuple[str, str]]:
    problems = []
    for m in available(base):
        text = (base / m.source).read_text(encoding="utf-8")
        try:
            compile(text, str(m.source), "exec")
        except SyntaxError as exc:
            problems.append((f"{m.source.as_posix()} line {exc.lineno}: {exc.msg}",
                             f"fix that line, or `tito module reset {m.number}` (keeps a backup)"))
            continue
        for cell in notebook.parse_text(text)[1]:
            if cell.metadata_error:
                problems.append((f"{m.source.as_posix()} line {cell.line}: bad cell metadata",
                                 f"fix the JSON after '# %%' (see `tito module test {m.number}`)"))
    return problems


@app.command()
def doctor(
    fix: Annotated[bool, typer.Option("--fix", help="Move a broken progress file aside and start "
                                                     "fresh.")] = False,
) -> None:
    """Check dependencies, progress file, package and module files; print a fix for each problem."""
    base = root()
    problems: list[tuple[str, str]] = []
    warnings: list[tuple[str, str]] = []
    for dist in REQUIRED:
        if _version(dist) is None:
            problems.append((f"{dist} is not installed", "pip install -e ."))
    for dist in GRADING:
        if _version(dist) is None:
            problems.append((f"{dist} is not installed (needed to grade modules)", "pip install -e '.[dev]'"))
    for dist, how in OPTIONAL.items():
        if _version(dist) is None:
            warnings.append((f"{dist} is not installed (optional)", how))
    broken = state.problem(base)
    if broken and fix:
        moved = state.move_aside(base)
        console.ok(f"Moved the broken progress file to {esc(str(moved))}; starting fresh.")
    elif broken:
        problems.append((broken, "tito system doctor --fix  (moves it to .tito/backups/, starts fresh)"))
    try:
        locks.load(base)
    except TitoError as exc:
        problems.append((exc.message, exc.hint or ""))
    failure = _import_check(base)
    if failure:
        problems.append((f"tinytorch does not import: {failure}",
                         "tito export --check, then `tito module complete NN` for the module named above"))
    elsewhere = _installed_elsewhere(base)
    if elsewhere:
        warnings.append((f"outside tito, `import tinytorch` loads {elsewhere}",
                         f"pip install -e {base}  (so your own scripts use this checkout)"))
    problems += _source_problems(base)
    for label, items in (("problem", problems), ("warning", warnings)):
        for what, how in items:
            colour = "red" if label == "problem" else "yellow"
            console.say(f"[{colour}]{label}:[/] {esc(what)}\n  fix: {esc(how)}")
    if problems:
        console.error(f"{len(problems)} problem(s) found.")
        raise typer.Exit(1)
    console.ok(f"All checks passed ({len(warnings)} warning(s)).")
