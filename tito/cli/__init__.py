"""The `tito` command: one Typer app per noun, wired together here."""

from __future__ import annotations

import signal
import sys
from typing import Annotated

import typer

from tito import __version__
from tito.cli import (
    benchmark,
    book,
    checkpoint,
    dev,
    export,
    grade,
    hint,
    milestone,
    module,
    nbgrader,
    release,
    system,
)
from tito.cli.base import new_app
from tito.console import PIPE_CLOSED, silence_stdout

app = new_app("TinyTorch: build a deep-learning framework module by module, then prove it works.")
app.add_typer(module.app, name="module")
app.add_typer(milestone.app, name="milestone")
app.add_typer(checkpoint.app, name="checkpoint")
app.add_typer(system.app, name="system")
app.add_typer(release.app, name="release")
app.add_typer(benchmark.app, name="benchmark")
app.add_typer(dev.app, name="dev")
app.add_typer(nbgrader.app, name="nbgrader")
app.add_typer(book.app, name="book")
app.command("export")(export.export)
app.command("hint")(hint.hint)
app.command("grade")(grade.grade)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tito {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
) -> None:
    """TinyTorch: build a deep-learning framework module by module, then prove it works."""


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    """Entry point. SIGTERM and SIGHUP stop tito like Ctrl-C (its test processes end with it,
    the package keeps its last tested state); a closed output pipe ends it quietly."""
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _interrupt)
    code: int | str | None = 0
    try:
        app(prog_name="tito")
    except SystemExit as exc:
        code = exc.code
    except BrokenPipeError:
        silence_stdout(stderr=True)
        code = PIPE_CLOSED
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        silence_stdout(stderr=True)
        code = code or PIPE_CLOSED
    sys.exit(code)
