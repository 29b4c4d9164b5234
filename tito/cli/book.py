"""`tito book build`: the course as an offline website in _build/book/ (docs: tito/book/)."""

from __future__ import annotations

from typing import Annotated

import typer

from tito import console
from tito.cli.base import new_app, root
from tito.console import esc

app = new_app("The course as a book: an offline website built from the module sources.")


@app.command()
def build(
    student: Annotated[bool, typer.Option(
        "--student", help="Show the module files as released (stubs), as a student edition's book "
                          "does (always so in a student edition).")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", help="Show Sphinx's progress.")] = False,
) -> None:
    """Build the book: MyST pages in _build/book-src/, the website in _build/book/ (open index.html)."""
    from tito import cli  # the command tree this command belongs to, for the TITO essentials page
    from tito.book.build import render, write_sources

    base = root()
    book = write_sources(base, typer.main.get_command(cli.app), student)
    edition = "student edition (files as released)" if book.student else "reference (solutions shown)"
    console.say(f"Pages: {len(book.pages)} in {esc(str(book.source))}; {edition}")
    with console.working("Rendering with Sphinx (jupyter-book 1.x)"):
        index = render(base, book, quiet=not verbose)
    console.ok(f"Book: {esc(str(index))}")
    console.say(f"Open it in a browser: file://{esc(str(index))}")
