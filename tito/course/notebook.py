"""Read module files in jupytext's percent format into cells (kind, metadata, lines).

A module file is a plain Python file whose cells start with `# %%` lines:

    # %% [markdown]                         -> a markdown cell (lines commented with "# ")
    # %% nbgrader={"grade": false, ...}     -> a code cell with NBGrader metadata

This parser keeps 1-based line numbers so every error can point at a line.
A test checks that jupytext reads the same cells and metadata.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from tito.course.sources import read_source

EXPORT = "#| export"
DEFAULT_EXP = "#| default_exp"
_HEADER = re.compile(r"^# %%(?P<rest>.*)$")


@dataclass
class Cell:
    kind: str  # "code" or "markdown"
    line: int  # line number of the `# %%` header
    lines: list[str] = field(default_factory=list)
    metadata: dict = field(default_factory=dict)
    metadata_error: str | None = None

    @property
    def nbgrader(self) -> dict | None:
        return self.metadata.get("nbgrader")

    @property
    def grade_id(self) -> str:
        return (self.nbgrader or {}).get("grade_id", f"<cell at line {self.line}>")

    @property
    def is_export(self) -> bool:
        return self.kind == "code" and any(ln.strip() == EXPORT for ln in self.lines)

    @property
    def is_solution(self) -> bool:
        return bool((self.nbgrader or {}).get("solution"))

    @property
    def is_locked(self) -> bool:
        return bool((self.nbgrader or {}).get("locked"))


def _parse_metadata(text: str) -> dict:
    """Parse jupytext's `key=<json>` pairs, e.g. `nbgrader={"grade": true}`."""
    meta: dict = {}
    decoder = json.JSONDecoder()
    rest = text.strip()
    while rest:
        match = re.match(r"([\w.-]+)=", rest)
        if not match:
            raise ValueError(f"expected key=<json>, found {rest[:40]!r}")
        value, end = decoder.raw_decode(rest, match.end())
        meta[match.group(1)] = value
        rest = rest[end:].strip()
    return meta


def parse_text(text: str) -> tuple[list[str], list[Cell]]:
    """Split a percent-format file into its header lines and its cells."""
    preamble: list[str] = []
    cells: list[Cell] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        match = _HEADER.match(raw)
        if not match:
            (cells[-1].lines if cells else preamble).append(raw)
            continue
        rest = match.group("rest").strip()
        kind = "code"
        if rest.startswith("[markdown]"):
            kind, rest = "markdown", rest[len("[markdown]"):]
        cell = Cell(kind=kind, line=number)
        try:
            cell.metadata = _parse_metadata(rest)
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            cell.metadata_error = str(exc)
        cells.append(cell)
    return preamble, cells


def parse(path: Path) -> list[Cell]:
    return parse_text(read_source(Path(path)))[1]


def default_exp(cells: list[Cell]) -> str | None:
    """The package module named by `#| default_exp NAME`, or None."""
    for cell in cells:
        for ln in cell.lines:
            if ln.strip().startswith(DEFAULT_EXP):
                return ln.strip()[len(DEFAULT_EXP):].strip()
    return None


def heading(line: str) -> str | None:
    """The title of a markdown heading line of a markdown cell (`# ## 4. Matmul` -> `4. Matmul`)."""
    match = re.match(r"^# (#{1,6})\s+(.+?)\s*#*\s*$", line)
    return match.group(2) if match else None
