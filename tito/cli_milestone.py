"""`tito milestone ...`: the historical scripts that prove the package works."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from tito import console, runner
from tito.cli_base import milestone, new_app, root
from tito.console import esc
from tito.errors import TitoError
from tito.registry import MILESTONES, Milestone, get_module
from tito.state import Progress

app = new_app("Run the historical milestones with the package you built.")


def is_available(base: Path, ms: Milestone) -> bool:
    return bool(ms.scripts) and all((base / ms.path / s).is_file() for s in ms.scripts)


def _missing(progress: Progress, ms: Milestone) -> list[str]:
    return [n for n in ms.requires if not progress.completed(n)]


def _stream(base: Path, script: Path) -> int:
    """Run one script from the repository root, echoing its output line by line."""
    sys.stdout.flush()
    command = [sys.executable, "-u", "-m", "tito.isolate", str(script)]
    with subprocess.Popen(command, cwd=base, env=runner.env(base), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                          errors="replace") as proc:
        for line in proc.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
    return proc.returncode


@app.command("list")
def list_() -> None:
    """List the milestones, what unlocks them and whether their scripts exist yet."""
    base = root()
    rows = [[ms.id, str(ms.year), esc(ms.title), ms.unlocked_by, ", ".join(ms.scripts) or "-",
             "available" if is_available(base, ms) else "[dim]not available yet[/]"] for ms in MILESTONES]
    console.table(["ID", "Year", "Title", "Unlocked by", "Scripts", "State"], rows)


@app.command()
def status() -> None:
    """Show which milestones are unlocked and the result of their last run."""
    base = root()
    progress = Progress.load(base)
    rows = []
    for ms in MILESTONES:
        missing = _missing(progress, ms)
        last = progress.milestone(ms.id)
        result = "-" if not last else ("[green]passed[/]" if last["passed"] else "[red]failed[/]")
        if not is_available(base, ms):
            unlocked = "[dim]not available yet[/]"
        else:
            unlocked = "[green]unlocked[/]" if not missing else f"needs {', '.join(missing)}"
        rows.append([ms.id, esc(ms.title), unlocked, result, (last or {}).get("date", "")[:10]])
    console.table(["ID", "Title", "State", "Last run", "Date"], rows)


def _run(base: Path, ms: Milestone, force: bool) -> bool:
    progress = Progress.load(base)
    console.heading(f"Milestone {ms.id}: {ms.year} {esc(ms.title)}")
    missing = _missing(progress, ms)
    if missing and not force:
        raise TitoError(f"Milestone {ms.id} needs module(s) {', '.join(missing)} completed first.",
                        "Complete them with `tito module complete NN`, or pass --force to run anyway.")
    if missing:
        console.warn(f"running without module(s) {', '.join(missing)} completed (--force).")
    passed = True
    for script in ms.scripts:
        path = ms.path / script
        console.say(f"$ python {path.as_posix()}")
        code = _stream(base, base / path)
        if code != 0:
            console.error(f"{path.as_posix()} failed (exit code {code}).")
            passed = False
            break
    progress = Progress.load(base)
    progress.record_milestone(ms.id, passed)
    progress.save()
    if passed:
        console.ok(f"Milestone {ms.id} passed.")
    return passed


@app.command()
def run(
    milestone_id: Annotated[str | None, typer.Argument(metavar="ID", help="Milestone id, e.g. M01.",
                                                       show_default=False)] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every available milestone, in order.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Run even if required modules are not "
                                                         "completed.")] = False,
) -> None:
    """Run a milestone's scripts in order and record whether they passed."""
    base = root()
    if all_ == (milestone_id is not None):
        raise TitoError("Give a milestone id or --all.", "Example: `tito milestone run M01`.")
    if not all_:
        ms = milestone(milestone_id)
        if not is_available(base, ms):
            raise TitoError(f"Milestone {ms.id} ({ms.title}) is not available yet: its scripts do not exist.")
        if not _run(base, ms, force):
            raise typer.Exit(1)
        return
    results = {}
    for ms in MILESTONES:
        unwritten = [n for n in ms.requires if not (base / get_module(n).source).is_file()]
        if not is_available(base, ms) or unwritten:
            why = f"module(s) {', '.join(unwritten)} not written yet" if is_available(base, ms) \
                else "no scripts yet"
            console.say(f"Skipping {ms.id} ({esc(ms.title)}): not available yet ({why}).")
            continue
        results[ms.id] = _run(base, ms, force)
    failed = [key for key, passed in results.items() if not passed]
    console.say(f"\n{len(results) - len(failed)}/{len(results)} available milestones passed.")
    if failed:
        console.error(f"failed: {', '.join(failed)}")
        raise typer.Exit(1)
