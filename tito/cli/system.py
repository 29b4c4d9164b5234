"""`tito system ...`: what this machine runs, and a health check with fixes."""

from __future__ import annotations

import importlib.util
import os
import platform
import re
import sys
from pathlib import Path
from typing import Annotated

import typer

from tito import console
from tito.cli.base import new_app, root
from tito.console import esc
from tito.course.edition import is_student_edition
from tito.registry import MODULES, available
from tito.run import health
from tito.state import progress as state

app = new_app("Information about this setup, and a health check.")


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
    text = init.read_text(encoding="utf-8", errors="replace") if init.is_file() else ""
    found = re.search(r'__version__\s*=\s*"([^"]+)"', text)
    return found.group(1) if found else "unknown"


@app.command()
def info() -> None:
    """Show Python, OS, CPUs, NumPy and BLAS, the package version, the repository and your progress."""
    base = root()
    rows = [
        ["Python", f"{platform.python_version()} ({sys.executable})"],
        ["OS", f"{platform.system()} {platform.release()} ({platform.machine()})"],
        ["CPUs", str(os.cpu_count())],
        ["NumPy", health.version("numpy") or "not installed"],
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
        raise problem


@app.command()
def doctor(
    fix: Annotated[bool, typer.Option("--fix", help="Repair a broken progress file: save it in "
                                                     ".tito/backups/ and keep its valid entries.")] = False,
    restore: Annotated[str | None, typer.Option("--restore", metavar="NAME",
                                                help="Put a progress file saved in .tito/backups/ back as "
                                                     "it was (e.g. progress.20250131-100000-000000.json); "
                                                     "the current one is saved first.")] = None,
) -> None:
    """Check dependencies, progress file, package and module files; print a fix for each problem."""
    base = root()
    if restore:
        saved = state.restore(base, restore)
        console.ok(f"Restored {esc(restore)} as {esc(str(base / state.STATE_FILE))}"
                   + (f"; the file it replaced is saved as {esc(str(saved))}." if saved else "."))
    elif fix and state.problem(base):
        repaired = state.repair(base)
        console.ok(f"Saved the broken progress file as {esc(str(repaired.saved))}.")
        for dropped in repaired.dropped:
            console.say(f"  dropped {esc(dropped)}")
        if repaired.fresh:
            console.say("Nothing in it could be kept: starting fresh (re-run `tito module complete NN` "
                        "for the modules you finished).")
        else:
            console.say(f"Kept every valid entry in {esc(str(base / state.STATE_FILE))}.")
    findings = health.run_all(base)
    for item in findings:
        label, colour = ("problem", "red") if item.problem else ("warning", "yellow")
        console.say(f"[{colour}]{label}:[/] {esc(item.what)}\n  fix: {esc(item.fix)}")
    problems = sum(item.problem for item in findings)
    if problems:
        console.error(f"{problems} problem(s) found.")
        raise typer.Exit(1)
    console.ok(f"All checks passed ({len(findings)} warning(s)).")
