"""`tito checkpoint ...`: the capability each module proves, and re-testing it."""

from __future__ import annotations

import typer

from tito import console
from tito.cli import render
from tito.cli.base import DEFAULT_TIMEOUT, ModuleArg, Timeout, module_state, new_app, root, written_module
from tito.console import esc
from tito.registry import MODULES
from tito.run import isolate, pipeline
from tito.state.progress import Progress

app = new_app("Capabilities you have proven, one per module.")


@app.command()
def status() -> None:
    """Show each module's capability, whether it is achieved, and when."""
    base = root()
    progress = Progress.load(base)
    rows = []
    for m in MODULES:
        achieved = progress.completed(m.number)
        state = "[green]achieved[/]" if achieved else module_state(base, progress, m)[0]
        rows.append([m.number, esc(m.capability), state, (achieved or "")[:10]])
    console.table(["#", "Capability", "State", "Date"], rows)
    done = sum(1 for m in MODULES if progress.completed(m.number))
    console.say(f"\n{done}/{len(MODULES)} capabilities achieved.")


@app.command()
def test(number: ModuleArg, timeout: Timeout = DEFAULT_TIMEOUT) -> None:
    """Re-run a module's tests/NN_slug suite against the current package."""
    base = root()
    found = written_module(base, number)
    isolate.require_own_tinytorch(base)
    console.heading(f"Checkpoint {found.number}: {esc(found.capability)}")
    if not (base / found.export_target).exists():
        console.warn(f"{found.export_target.as_posix()} does not exist: complete the module first.")
    step = pipeline.run_suite(base, found, timeout, console.working)
    render.step(step)
    if not step.ok:
        raise typer.Exit(1)
