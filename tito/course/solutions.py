"""Solution regions of a module file: where they are, which stub each becomes, and their code.

A region is the code between a `### BEGIN SOLUTION` line and the next `### END SOLUTION` line.
Its stub name is the chain of `def`/`class` names around it (`Tensor.__init__`, `relu`), or the
cell's grade_id when it sits outside any; its section is the nearest markdown heading above it.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from tito.course import notebook

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
MIN_SOLUTION_LINE = 20  # shorter lines (`return out`, `x = x.data`) are too common to be a solution


@dataclass(frozen=True)
class Region:
    begin: int  # 1-based line of the BEGIN marker
    end: int  # 1-based line of the END marker
    name: str  # the stub's name
    section: str | None  # the nearest markdown heading above the region


def normalise(line: str) -> str:
    """A line with its surrounding whitespace removed and inner runs of whitespace made one space."""
    return re.sub(r"\s+", " ", line.strip())


def solution_lines(text: str) -> set[int]:
    """1-based numbers of the lines strictly inside solution regions."""
    inside, numbers = False, set()
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped in (BEGIN, END):
            inside = stripped == BEGIN
        elif inside:
            numbers.add(number)
    return numbers


def solution_code(text: str) -> dict[str, int]:
    """The file's *solution lines* (normalised, not pure comments, 20+ characters) -> first line number."""
    lines = text.splitlines()
    found: dict[str, int] = {}
    for number in sorted(solution_lines(text)):
        code = normalise(lines[number - 1])
        if len(code) >= MIN_SOLUTION_LINE and not code.startswith("#"):
            found.setdefault(code, number)
    return found


def _scopes(text: str) -> list[tuple[int, int, str]]:
    """(first line, last line, dotted name) of every def and class in the file."""
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        raise ValueError(f"line {exc.lineno}: {exc.msg} (the file must be valid Python)") from exc
    found: list[tuple[int, int, str]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                found.append((child.lineno, child.end_lineno or child.lineno, name))
                visit(child, name + ".")
            else:
                visit(child, prefix)

    visit(tree, "")
    return found


def regions(text: str) -> list[Region]:
    """Every solution region of a module file, in order. ValueError names a line on bad markers."""
    scopes = _scopes(text)
    found: list[Region] = []
    section: str | None = None
    for cell in notebook.parse_text(text)[1]:
        if cell.kind == "markdown":
            titles = [notebook.heading(ln) for ln in cell.lines]
            section = next((t for t in reversed(titles) if t), section)
            continue
        begin = None
        for offset, line in enumerate(cell.lines, start=1):
            number, stripped = cell.line + offset, line.strip()
            if stripped == BEGIN:
                if begin is not None:
                    raise ValueError(f"line {number}: {BEGIN} inside the region opened at line {begin}")
                begin = number
            elif stripped == END:
                if begin is None:
                    raise ValueError(f"line {number}: {END} without {BEGIN}")
                inner = [s for s in scopes if s[0] < begin <= s[1]]
                name = max(inner)[2] if inner else cell.grade_id
                found.append(Region(begin, number, name, section))
                begin = None
        if begin is not None:
            raise ValueError(f"line {begin}: {BEGIN} is never closed in its cell")
    return found
