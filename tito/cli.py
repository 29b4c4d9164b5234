"""The `tito` command: one Typer app per noun, wired together here."""

from __future__ import annotations

from typing import Annotated

import typer

from tito import __version__, cli_checkpoint, cli_dev, cli_milestone, cli_module, cli_release, cli_system
from tito.cli_base import new_app
from tito.cli_export import export
from tito.cli_hint import hint

app = new_app("TinyTorch: build a deep-learning framework module by module, then prove it works.")
app.add_typer(cli_module.app, name="module")
app.add_typer(cli_milestone.app, name="milestone")
app.add_typer(cli_checkpoint.app, name="checkpoint")
app.add_typer(cli_system.app, name="system")
app.add_typer(cli_release.app, name="release")
app.add_typer(cli_dev.app, name="dev")
app.command("export")(export)
app.command("hint")(hint)


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


def main() -> None:
    app(prog_name="tito")
