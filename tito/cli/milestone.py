"""`tito milestone ...`: the historical scripts that prove the package works
(workflow in tito.run.milestones)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tito import console
from tito.cli.base import milestone, new_app, root
from tito.console import esc
from tito.errors import TitoError
from tito.registry import MILESTONES, Milestone
from tito.run import milestones
from tito.state.progress import Progress

app = new_app("Run the historical milestones with the package you built.")


@app.command("list")
def list_() -> None:
    """List the milestones, what unlocks them and whether their scripts exist yet."""
    base = root()
    rows = [[ms.id, str(ms.year), esc(ms.title), ms.unlocked_by, ", ".join(ms.scripts) or "-",
             "available" if milestones.is_available(base, ms) else "[dim]not available yet[/]"]
            for ms in MILESTONES]
    console.table(["ID", "Year", "Title", "Unlocked by", "Scripts", "State"], rows)


@app.command()
def status() -> None:
    """Show which milestones are unlocked and the result of their last run."""
    base = root()
    progress = Progress.load(base)
    rows = []
    for ms in MILESTONES:
        missing = milestones.not_completed(progress, ms)
        last = progress.milestone(ms.id)
        result = "-" if not last else ("[green]passed[/]" if last["passed"] else "[red]failed[/]")
        if not milestones.is_available(base, ms):
            unlocked = "[dim]not available yet[/]"
        else:
            unlocked = "[green]unlocked[/]" if not missing else f"needs {', '.join(missing)}"
        rows.append([ms.id, esc(ms.title), unlocked, result, (last or {}).get("date", "")[:10]])
    console.table(["ID", "Title", "State", "Last run", "Date"], rows)


def _run_one(base: Path, ms: Milestone, force: bool) -> bool:
    console.heading(f"Milestone {ms.id}: {ms.year} {esc(ms.title)}")
    outcome = milestones.run(base, ms, force)
    if outcome.passed:
        console.ok(f"Milestone {ms.id} passed.")
    else:
        console.error(f"{outcome.failed_script} failed (exit code {outcome.exit_code}).")
    return outcome.passed


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
        if not milestones.is_available(base, ms):
            raise TitoError(f"Milestone {ms.id} ({ms.title}) is not available yet: its scripts do not exist.")
        if not _run_one(base, ms, force):
            raise typer.Exit(1)
        return
    results = {}
    for ms in MILESTONES:
        why = milestones.skip_reason(base, ms)
        if why:
            console.say(f"Skipping {ms.id} ({esc(ms.title)}): not available yet ({why}).")
            continue
        results[ms.id] = _run_one(base, ms, force)
    failed = [key for key, passed in results.items() if not passed]
    console.say(f"\n{len(results) - len(failed)}/{len(results)} available milestones passed.")
    if failed:
        console.error(f"failed: {', '.join(failed)}")
        raise typer.Exit(1)
