"""Shared pieces of the command modules: app construction and argument lookup."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperGroup

from tito import console, registry
from tito.errors import TitoError
from tito.registry import Milestone, Module
from tito.state.progress import Progress

ModuleArg = Annotated[str, typer.Argument(help="Module number (e.g. 03) or slug.", show_default=False)]
MaybeModule = Annotated[str | None, typer.Argument(help="Module number (e.g. 03) or slug.",
                                                   show_default=False)]
DEFAULT_TIMEOUT = 60.0
Timeout = Annotated[float, typer.Option("--timeout", min=1, metavar="SECONDS",
                                        help="Seconds each test may run before it is stopped (an endless "
                                             "loop?); the message names that test.")]
AllModules = Annotated[bool, typer.Option("--all", help="Every written module, in order; stop at the first "
                                                        "failure.")]


class _Group(TyperGroup):
    """Turns a TitoError (or an OSError: a folder it cannot write) from any command into a message on
    stderr and a non-zero exit; a closed output pipe (`tito ... | head -5`) into a quiet exit."""

    def invoke(self, ctx):  # noqa: ANN001, ANN201 - Click's signature
        try:
            return super().invoke(ctx)
        except TitoError as exc:
            console.error(console.esc(exc.message))
            if exc.hint:
                console.error_hint(console.esc(exc.hint))
            raise typer.Exit(exc.exit_code) from exc
        except BrokenPipeError as exc:
            console.silence_stdout()
            raise typer.Exit(console.PIPE_CLOSED) from exc
        except OSError as exc:  # a folder tito must write is a file, read-only, full, ...
            where = exc.filename or "a file"
            console.error(console.esc(f"cannot write or read {where}: {exc.strerror or exc}"))
            console.error_hint("Check that .tito/ (and the folder named) is a folder you can write, e.g. "
                               "move a file named .tito aside; `tito system doctor` checks the setup.")
            raise typer.Exit(1) from exc


def new_app(help_text: str) -> typer.Typer:
    """A command group: Rich help on a terminal, plain help text otherwise."""
    return typer.Typer(cls=_Group, help=help_text, no_args_is_help=True, add_completion=False,
                       pretty_exceptions_enable=False,
                       rich_markup_mode=None if console.plain() else "rich")


def root() -> Path:
    return registry.find_root()


def module(key: str) -> Module:
    try:
        return registry.get_module(key)
    except KeyError as exc:
        raise TitoError(exc.args[0], "See `tito module list`.") from exc


def written_module(base: Path, key: str) -> Module:
    """A module whose source file exists in this checkout."""
    found = module(key)
    if not (base / found.source).is_file():
        raise TitoError(f"Module {found.number} {found.title} is not written yet "
                        f"({found.source.as_posix()} does not exist).", "See `tito module list`.")
    return found


def modules_or_all(base: Path, number: str | None, all_: bool, example: str,
                   choices: str = "a module number or --all") -> list[Module]:
    """The modules a command acts on: the one named, or with --all every written module in order."""
    if all_ == (number is not None):
        raise TitoError(f"Give {choices}.", f"Example: `{example}`.")
    return registry.available(base) if all_ else [written_module(base, number)]


def milestone(key: str) -> Milestone:
    try:
        return registry.get_milestone(key)
    except KeyError as exc:
        raise TitoError(exc.args[0], "See `tito milestone list`.") from exc


def module_state(base: Path, progress: Progress, found: Module) -> tuple[str, str]:
    """(state, date) of a module: not written yet / not started / started / completed."""
    if not (base / found.source).is_file():
        return "[dim]not written yet[/]", ""
    if progress.completed(found.number):
        return "[green]completed[/]", progress.completed(found.number)[:10]
    if progress.started(found.number):
        return "[yellow]started[/]", progress.started(found.number)[:10]
    return "not started", ""
