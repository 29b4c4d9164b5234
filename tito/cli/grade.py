"""`tito grade NN`: the points nbgrader's autograde would give a module file, without nbgrader.

The file runs in a jail (tito.grading.jail) against the reference exports of the module's
prerequisites only (tito.grading.grader): nothing of the package in this checkout, of the editable
install, or of the module itself can stand in for the student's code, and the module's probes
(tito.grading.probes) check it on inputs drawn at grading time. Records no progress.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from tito import console
from tito.cli.base import ModuleArg, module, root
from tito.console import esc
from tito.course.edition import is_student_edition
from tito.errors import TitoError
from tito.grading import grader


def _points(value: float) -> str:
    return f"{value:g}"


def grade(
    number: ModuleArg,
    file: Annotated[Path | None, typer.Option(
        "--file", metavar="PATH", show_default=False,
        help="The module file to grade: percent-format .py or .ipynb "
             "(default: this checkout's modules/source/NN_*/NN_*_dev.py).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    timeout: Annotated[float, typer.Option("--timeout", min=1, metavar="SECONDS",
                                           help="Seconds each cell may run; a cell that overruns fails and "
                                                "the next one runs.")] = grader.DEFAULT_CELL_TIMEOUT,
    seed: Annotated[int | None, typer.Option(
        "--seed", min=0, metavar="N", show_default=False,
        help="Seed of the probes' inputs (default: a new one; the last line names it), to repeat a "
             "run.")] = None,
    unsafe: Annotated[bool, typer.Option(
        "--unsafe", help="Grade without the jail, with your own rights (where no jail can be made; only "
                         "for code you trust).")] = False,
) -> None:
    """Grade a module file: points per graded test cell, as nbgrader would give them (records nothing)."""
    base = root()
    found = module(number)
    source = file if file is not None else base / found.source
    if not source.is_file():
        what = "is a folder, not a module file" if source.is_dir() else "does not exist"
        raise TitoError(f"{source} {what}.",
                        "Pass the file to grade with --file PATH." if file is None else
                        f"Check the path (e.g. {found.source.as_posix()}).")
    if as_json:
        report = grader.grade_file(base, found.number, source, timeout=timeout, unsafe=unsafe, seed=seed)
        typer.echo(json.dumps(report.to_dict(), indent=2))
        return
    needs = ", ".join(m.number for m in grader.prerequisites(found.number)) or "none"
    with console.working(f"Grading module {found.number} ({found.title}) from {source}"):
        report = grader.grade_file(base, found.number, source, timeout=timeout, unsafe=unsafe, seed=seed)
    rows = []
    for cell in report.cells:
        mark = "[green]pass[/]" if cell.passed else "[red]fail[/]"
        rows.append([esc(cell.grade_id), mark, f"{_points(cell.points)} / {_points(cell.max_points)}",
                     esc(cell.message)])
    console.heading(f"Module {found.number} {esc(found.title)}: {esc(str(source))}")
    console.table(["Graded cell", "Result", "Points", "Why it failed"], rows)
    for problem in report.errors[:5]:
        console.warn(f"a cell raised: {esc(problem)}")
    if len(report.errors) > 5:
        console.warn(f"... and {len(report.errors) - 5} more cells raised (`--json` lists them all)")
    if report.crash:
        console.warn(esc(report.crash))
    total = f"Total: {_points(report.total)} / {_points(report.max_total)}"
    (console.ok if report.total == report.max_total else console.say)(total)
    if needs == "none":
        where = "no prerequisites"
    elif is_student_edition(base):
        where = f"prerequisites {needs} from your own files of those modules (no reference is shipped)"
    else:
        where = f"prerequisites {needs} from the reference of those modules"
    jail = "a jail (no network, nothing of this machine but Python)" if report.jailed else \
        "[yellow]no jail (--unsafe): the code ran with your rights[/]"
    console.say(f"[dim]Graded in {jail}: {where}; module {found.number} only from this file. "
                f"Probes: {esc(report.probes)}. Nothing was recorded.[/]")
