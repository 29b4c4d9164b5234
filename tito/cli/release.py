"""`tito release ...`: instructor commands that produce what students receive."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tito import console
from tito.cli.base import new_app, root
from tito.console import esc
from tito.course import locks, notebook, release, validate
from tito.errors import TitoError
from tito.registry import available

app = new_app("Instructor tools: the student edition and the locked-cell checksums.")


@app.command()
def student(
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="Folder for the student repository.",
                                              show_default=False)],
    force: Annotated[bool, typer.Option("--force", help="Delete DIR's contents first if it is "
                                                         "not empty.")] = False,
) -> None:
    """Write the student repository: solutions stubbed, package emptied, fresh git history."""
    base = root()
    with console.working("Writing the student edition"):
        edition = release.build_student(base, directory, force)
    console.ok(f"Student edition written to {esc(str(directory.resolve()))} "
               f"({edition.files} files, one commit).")
    console.say(f"Modules stubbed: {', '.join(m.number for m in edition.modules) or 'none'}")
    console.say(f"Package files provided: {', '.join(p.as_posix() for p in edition.provided)}")


@app.command()
def lock(
    check: Annotated[bool, typer.Option("--check", help="Write nothing; exit 1 if stale.")] = False,
) -> None:
    """Store checksums of every written module's locked cells in modules/locked_cells.json."""
    base = root()
    modules = available(base)
    computed = locks.compute(base, modules)
    path = base / locks.LOCK_FILE
    if check:
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current != locks.render(computed):
            raise TitoError(f"{locks.LOCK_FILE} does not match the locked cells of the sources.",
                            "Run `tito release lock` after changing test cells on purpose.")
        console.ok(f"{locks.LOCK_FILE} matches {len(modules)} module(s).")
        return
    problems = [f"{m.source.as_posix()} {p}" for m in modules
                for p in validate.check(notebook.parse(base / m.source), m.slug)]
    if problems:
        raise TitoError("Fix these before locking:\n  " + "\n  ".join(problems))
    locks.write(base, computed)
    cells = sum(len(v) for v in computed.values())
    console.ok(f"Wrote {locks.LOCK_FILE}: {cells} locked cell(s) in {len(modules)} module(s).")
