"""All command output: Rich on a terminal; plain text (no colour, no box drawing) when piped or in CI.

Messages use Rich markup (`[green]...[/]`); always pass user-provided text through `esc()`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from rich import box
from rich.console import Console
from rich.markup import escape as esc
from rich.table import Table
from rich.text import Text

__all__ = ["esc", "plain", "say", "ok", "warn", "error", "error_hint", "heading", "table", "working",
           "silence_stdout", "PIPE_CLOSED"]

PIPE_CLOSED = 141  # exit code when the reader of our output went away (128 + SIGPIPE)


def plain() -> bool:
    """True when output is not an interactive terminal (pipe, file, CI, dumb console)."""
    return not sys.stdout.isatty() or os.environ.get("TERM") == "dumb" or bool(os.environ.get("CI"))


def _console(stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    if plain():
        return Console(file=stream, color_system=None, highlight=False, emoji=False, soft_wrap=True)
    return Console(file=stream, highlight=False, emoji=False)


def say(text: str = "") -> None:
    _console().print(text)


def ok(text: str) -> None:
    say(f"[green]{text}[/]")


def warn(text: str) -> None:
    say(f"[yellow]warning:[/] {text}")


def error(text: str) -> None:
    _console(stderr=True).print(f"[red]error:[/] {text}")


def error_hint(text: str) -> None:
    _console(stderr=True).print(text)


def heading(text: str) -> None:
    say(f"\n[bold]{text}[/]")


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], title: str | None = None) -> None:
    """A table; in plain mode, columns aligned with spaces. Cells may hold markup."""
    if not plain():
        grid = Table(*headers, title=title, box=box.SIMPLE_HEAD, title_justify="left")
        for row in rows:
            grid.add_row(*row)
        _console().print(grid)
        return
    cells = [[Text.from_markup(c).plain for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    lines = [title] if title else []
    for row in [list(headers), ["-" * w for w in widths], *cells]:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    sys.stdout.write("\n".join(lines) + "\n")


@contextmanager
def working(message: str) -> Iterator[None]:
    """A spinner on a terminal; one plain line otherwise."""
    if plain():
        say(f"{message} ...")
        yield
        return
    with _console().status(message):
        yield


def silence_stdout(stderr: bool = False) -> None:
    """The reader of our output is gone (`tito ... | head -5`): send the rest to the null device,
    so neither later prints nor the interpreter's final flush raise BrokenPipeError."""
    streams = [sys.stdout, sys.stderr] if stderr else [sys.stdout]
    for stream in streams:
        try:
            fd = stream.fileno()
        except (AttributeError, OSError, ValueError):  # not a real file (e.g. a test's capture)
            continue
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)
