"""`tito module ...`: list, status, start, complete, test, reset, import."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from typing import Annotated

import typer

from tito import console
from tito.book import paths as book_paths
from tito.cli import render
from tito.cli.base import (
    DEFAULT_TIMEOUT,
    AllModules,
    MaybeModule,
    ModuleArg,
    Timeout,
    module,
    module_state,
    modules_or_all,
    new_app,
    root,
    written_module,
)
from tito.console import esc
from tito.course.edition import is_student_edition, released_text
from tito.grading import notebook_import
from tito.registry import MODULES, TIERS, available
from tito.run import pipeline
from tito.state import backups
from tito.state.atomic import write_atomic
from tito.state.progress import Progress

app = new_app("Work on course modules: start, complete, test, reset, import.")


def _tier_tables(base: Path, progress: Progress, with_dates: bool) -> None:
    for tier in TIERS:
        rows = []
        for m in (m for m in MODULES if m.tier == tier):
            state, date = module_state(base, progress, m)
            row = [m.number, esc(m.title), state]
            rows.append(row + [date] if with_dates else row + [", ".join(m.prerequisites) or "-"])
        last = "Date" if with_dates else "Needs"
        numbers = [m.number for m in MODULES if m.tier == tier]
        console.heading(f"{tier} ({numbers[0]}-{numbers[-1]})")
        console.table(["#", "Module", "State", last], rows)


@app.command("list")
def list_() -> None:
    """List all modules by tier with their state and prerequisites."""
    base = root()
    _tier_tables(base, Progress.load(base), with_dates=False)


@app.command()
def status() -> None:
    """Show your progress through the modules, with dates, and what to do next."""
    base = root()
    progress = Progress.load(base)
    _tier_tables(base, progress, with_dates=True)
    done = [m for m in MODULES if progress.completed(m.number)]
    written = available(base)
    console.say(f"\n{len(done)}/{len(MODULES)} modules completed ({len(written)} written so far).")
    todo = [m for m in written if not progress.completed(m.number)]
    if todo:
        console.say(f"Next: `tito module start {todo[0].number}` ({esc(todo[0].title)})")


@app.command()
def start(number: ModuleArg) -> None:
    """Show where a module's file is and how to open it as a notebook; record it as started."""
    base = root()
    found = written_module(base, number)
    progress = Progress.load(base)
    console.heading(f"Module {found.number}: {found.title} ({found.tier})")
    for warning in pipeline.prerequisite_warnings(progress, found):
        console.warn(esc(warning))
    if progress.completed(found.number):
        console.say(f"Already completed on {progress.completed(found.number)[:10]}; "
                    "run complete again after any change.")
    source = found.source.as_posix()
    notebook_file = source[:-3] + ".ipynb"
    console.say(f"File: {esc(str(base / found.source))}")
    page = book_paths.html(base, book_paths.chapter(found))
    built = "" if page.is_file() else " (not built yet: `make book` builds the course's book)"
    console.say(f"Chapter: {esc(str(page))}{esc(built)}")
    console.say("\nEdit it in any editor (cells start with `# %%`), or open it as a notebook:")
    console.say(f"  jupytext --set-formats ipynb,py:percent {source}   # pair a notebook with the file")
    if shutil.which("jupyter") and importlib.util.find_spec("jupyterlab"):
        console.say(f"  jupyter lab {notebook_file}")
    else:
        console.say(esc("  (Jupyter is not installed: `pip install -e '.[notebook]'`, then "
                        f"`jupyter lab {notebook_file}`)"))
    console.say(f"\nWhen its tests pass: `tito module complete {found.number}`")
    progress.mark_started(found.number)
    progress.save()


INTERRUPTED = 130  # exit code after Ctrl-C (128 + SIGINT)


def _finish(result: pipeline.Result) -> None:
    render.result(result)
    if result.interrupted:
        raise typer.Exit(INTERRUPTED)
    if not result.ok:
        raise typer.Exit(1)


@app.command()
def complete(number: MaybeModule = None, all_: AllModules = False,
             timeout: Timeout = DEFAULT_TIMEOUT) -> None:
    """Validate, test and export a module; record it as completed only if everything passes.

    The new export is tested in a staging copy of the package first: the package file is replaced
    only after its tests pass, so an interrupted or failed run keeps the previous file.
    """
    base = root()
    targets = modules_or_all(base, number, all_, "tito module complete 01")
    for m in targets:
        console.heading(f"Module {m.number} {esc(m.title)}: complete")
        _finish(pipeline.complete(base, m, timeout, console.working, render.as_it_happens))
    if all_:
        console.ok(f"\nAll {len(targets)} written modules completed.")


@app.command()
def test(number: ModuleArg, timeout: Timeout = DEFAULT_TIMEOUT) -> None:
    """Validate and test the file as it is now (its export staged); export and record nothing."""
    base = root()
    found = written_module(base, number)
    console.heading(f"Module {found.number} {esc(found.title)}: test")
    _finish(pipeline.test(base, found, timeout, console.working, render.as_it_happens))


@app.command()
def reset(
    number: ModuleArg,
    list_backups: Annotated[bool, typer.Option("--list-backups", help="List this module's backups.")] = False,
    restore: Annotated[str | None, typer.Option("--restore", metavar="BACKUP",
                                                help="Restore a listed backup instead.")] = None,
) -> None:
    """Restore a module file as released (or from a backup); the current file is backed up first."""
    base = root()
    found = module(number)
    if list_backups:
        names = backups.listing(base, found)
        if names:
            console.table(["Backup", "Bytes"], [[p.name, str(p.stat().st_size)] for p in names])
        else:
            console.say(f"No backups of module {found.number} yet.")
        return
    found = written_module(base, number)
    if restore:  # a backup is the student's own file: back as it was, byte for byte (even not UTF-8)
        text = backups.find(base, found, restore).read_bytes()
    else:
        text = released_text(base, found)
    saved = backups.backup(base, found)
    write_atomic(base / found.source, text)
    console.say(f"Backed up your file to {esc(saved.relative_to(base).as_posix())}")
    origin = f"backup {restore}" if restore else "the released version"
    console.ok(f"Restored {found.source.as_posix()} from {esc(origin)}.")
    if not restore and not is_student_edition(base):
        console.warn("this is the reference repository: the file now holds stubs instead of the "
                     f"solutions; `tito module reset {found.number} --restore {saved.name}` undoes it.")
    console.say("Your progress record and the package are unchanged.")


@app.command("import")
def import_(
    number: ModuleArg,
    notebook: Annotated[Path, typer.Argument(metavar="NOTEBOOK", show_default=False,
                                             help="The module's .ipynb (e.g. from nbgrader or Jupyter).")],
    dry_run: Annotated[bool, typer.Option("--dry-run",
                                          help="Only check and show what would change.")] = False,
) -> None:
    """Make a notebook (e.g. the nbgrader one you worked in) the module file again, checked first.

    The notebook is converted to the percent format (what nbgrader added is removed), checked as
    `tito module test` checks (metadata, the graded test cells as released), and only then written;
    your current file is backed up first (`tito module reset NN --list-backups` lists the backups).
    """
    base = root()
    found = written_module(base, number)
    plan = notebook_import.plan(base, found, notebook)
    source = found.source.as_posix()
    shown = esc(str(notebook))
    for warning in plan.warnings:
        console.warn(esc(warning))
    if plan.unchanged:
        console.ok(f"{shown} holds exactly {source}: nothing to import, nothing written.")
        return
    cells = f" in {len(plan.changed_cells)} cell(s): {esc(', '.join(plan.changed_cells))}"
    change = f"+{plan.added} -{plan.removed} line(s){cells}"
    console.say(f"Read {shown}: {plan.cells} cells, checked (metadata and graded test cells): valid.")
    if dry_run:
        console.say(f"Would change {source}: {change}.")
        console.say("Nothing written (--dry-run).")
        return
    saved = notebook_import.apply(base, plan)
    console.say(f"Backed up your file to {esc(saved.relative_to(base).as_posix())}")
    console.ok(f"Imported into {source}: {change}.")
    console.say(f"Undo: `tito module reset {found.number} --restore {esc(saved.name)}`")
    console.say(f"Next: `tito module complete {found.number}`")
