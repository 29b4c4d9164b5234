"""`tito export`: write package files from module sources, or check they are current."""

from __future__ import annotations

from typing import Annotated

import typer

from tito import console
from tito.cli.base import MaybeModule, modules_or_all, root
from tito.console import esc
from tito.course import exporter
from tito.course.edition import is_student_edition
from tito.errors import TitoError
from tito.registry import available


def export(
    number: MaybeModule = None,
    all_: Annotated[bool, typer.Option("--all", help="Export every written module.")] = False,
    check: Annotated[bool, typer.Option("--check", help="Write nothing; exit 1 if tinytorch/ is "
                                                         "not current.")] = False,
) -> None:
    """Export `#| export` cells to tinytorch/<slug>.py (no tests run), or --check the package."""
    base = root()
    if check:
        _check(base)
        return
    if is_student_edition(base):
        raise TitoError("In the student edition the package changes only through `tito module complete NN`, "
                        "which tests the export before it replaces the package file.",
                        "Run `tito module complete NN` (or `tito module test NN` to try without recording).")
    choices = "a module number, --all or --check"
    for m in modules_or_all(base, number, all_, "tito export 01", choices=choices):
        exporter.export(base, m)
        console.say(f"{m.source.as_posix()} -> {m.export_target.as_posix()}")


def _check(base) -> None:
    found = exporter.stale(base)
    if is_student_edition(base):  # in a student's copy, a missing file is a module not completed yet
        found = [s for s in found if s.reason != "missing"]
    if not found:
        console.ok(f"tinytorch/ matches the sources of {len(available(base))} written module(s).")
        return
    console.error("tinytorch/ is not what the sources generate:")
    for item in found:
        console.say(f"  {esc(item.target.as_posix())} ({item.reason})")
    if is_student_edition(base):  # `tito export` is refused here: only a tested export may replace a file
        commands = ", ".join(f"`tito module complete {item.module.number}`" for item in found)
        console.say(f"These modules changed since you completed them; to test and export them: {commands}.")
    else:
        console.say("Run `tito export --all` to regenerate (or `tito module complete NN` to test first).")
    raise typer.Exit(1)
