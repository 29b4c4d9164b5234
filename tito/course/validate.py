"""Check a module file's NBGrader metadata and markers before anything runs or exports.

Each problem names the line and the cell (grade_id), so a student can jump straight to it.
"""

from __future__ import annotations

import ast
import bisect
import re
from dataclasses import dataclass
from numbers import Real

from tito.course import checksums, notebook
from tito.course.bindings import bindings
from tito.course.notebook import Cell
from tito.course.solutions import BEGIN, END

REQUIRED = {"grade": bool, "grade_id": str, "locked": bool, "schema_version": int,
            "solution": bool, "task": bool}
_MARKER = re.compile(r"^#+\s*(BEGIN|END)\s+SOLUTION\b")
_MARKER_WORDS = ("BEGIN SOLUTION", "END SOLUTION")  # nbgrader takes any line holding them for a marker
TEST_NAME = re.compile(r"test_unit_\w+|test_module")


@dataclass(frozen=True)
class Problem:
    line: int | None
    grade_id: str | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "file"
        cell = f" [{self.grade_id}]" if self.grade_id else ""
        return f"{where}{cell}: {self.message}"


def _cell_id(cell: Cell) -> str | None:
    meta = cell.nbgrader
    return meta.get("grade_id") if isinstance(meta, dict) else None


def _metadata(cell: Cell) -> list[Problem]:
    if cell.metadata_error:
        return [Problem(cell.line, None, f"cell metadata is not valid JSON: {cell.metadata_error}")]
    meta = cell.metadata.get("nbgrader")
    if meta is None:
        return []
    if not isinstance(meta, dict):
        return [Problem(cell.line, None, "nbgrader metadata must be a JSON object")]
    gid = _cell_id(cell)
    problems = []
    for key, kind in REQUIRED.items():
        if key not in meta:
            problems.append(Problem(cell.line, gid, f"nbgrader metadata lacks required key {key!r}"))
        elif not isinstance(meta[key], kind) or (kind is int and isinstance(meta[key], bool)):
            problems.append(Problem(cell.line, gid, f"nbgrader key {key!r} must be a {kind.__name__}"))
    if meta.get("schema_version", 3) != 3:
        problems.append(Problem(cell.line, gid, "nbgrader schema_version must be 3"))
    if isinstance(meta.get("grade_id"), str) and not meta["grade_id"].strip():
        problems.append(Problem(cell.line, gid, "grade_id is empty"))
    if meta.get("grade") is True:
        points = meta.get("points")
        if not isinstance(points, Real) or isinstance(points, bool) or points <= 0:
            problems.append(Problem(cell.line, gid, f"graded cell needs numeric points > 0, has {points!r}"))
    return problems


def _markers(cell: Cell, require: bool) -> list[Problem]:
    """Solution cells hold properly paired markers; other cells hold none."""
    gid, problems, open_at, pairs = _cell_id(cell), [], None, 0
    for offset, text in enumerate(cell.lines, start=1):
        line, stripped = cell.line + offset, text.strip()
        marker_like = cell.kind == "code" and _MARKER.match(stripped)
        if not marker_like:
            if any(words in text for words in _MARKER_WORDS):
                problems.append(Problem(line, gid, "the words 'BEGIN SOLUTION'/'END SOLUTION' outside a "
                                                   "marker line (nbgrader reads any line holding them as "
                                                   "a marker): say 'solution region' instead"))
            continue
        if stripped not in (BEGIN, END):
            problems.append(Problem(line, gid, f"malformed marker {stripped!r}: write exactly "
                                               f"'{BEGIN}' or '{END}' on its own line"))
        elif not cell.is_solution:
            problems.append(Problem(line, gid, f"'{stripped}' in a cell without \"solution\": true"))
        elif stripped == BEGIN and open_at is not None:
            problems.append(Problem(line, gid, f"'{BEGIN}' inside the region opened at line {open_at}"))
        elif stripped == BEGIN:
            open_at = line
        elif open_at is None:
            problems.append(Problem(line, gid, f"'{END}' without a matching '{BEGIN}'"))
        else:
            open_at, pairs = None, pairs + 1
    if open_at is not None:
        problems.append(Problem(open_at, gid, f"'{BEGIN}' is never closed by '{END}'"))
    if require and cell.is_solution and cell.kind == "code" and pairs == 0 and not problems:
        problems.append(Problem(cell.line, gid, f"solution cell has no '{BEGIN}' ... '{END}' region"))
    return problems


def _unique_ids(cells: list[Cell]) -> list[Problem]:
    first: dict[str, int] = {}
    problems = []
    for cell in cells:
        gid = _cell_id(cell)
        if not isinstance(gid, str):
            continue
        if gid in first:
            problems.append(Problem(cell.line, gid, f"duplicate grade_id (first used at line {first[gid]})"))
        else:
            first[gid] = cell.line
    return problems


def _default_exp(cells: list[Cell], slug: str) -> list[Problem]:
    found = [(cell.line + i, ln.strip()[len(notebook.DEFAULT_EXP):].strip())
             for cell in cells for i, ln in enumerate(cell.lines, start=1)
             if ln.strip().startswith(notebook.DEFAULT_EXP)]
    if not found:
        return [Problem(None, None, f"no '{notebook.DEFAULT_EXP} {slug}' line")]
    problems = [Problem(line, None, f"'{notebook.DEFAULT_EXP}' appears again (first at line {found[0][0]})")
                for line, _ in found[1:]]
    line, name = found[0]
    if name != slug:
        problems.append(Problem(line, None, f"'{notebook.DEFAULT_EXP} {name}' should be "
                                            f"'{notebook.DEFAULT_EXP} {slug}' (the registry's slug)"))
    return problems


def locked_cells(cells: list[Cell], released: dict[str, str]) -> list[Problem]:
    """Locked cells must match the checksums stored at release: none changed, missing or added."""
    current = {cell.grade_id: cell for cell in cells if cell.is_locked}
    problems = []
    for gid, digest in released.items():
        if gid not in current:
            problems.append(Problem(None, gid, "locked cell from the release is missing"))
        elif checksums.checksum(current[gid]) != digest:
            problems.append(Problem(current[gid].line, gid, "locked cell was changed since release"))
    for gid, cell in current.items():
        if gid not in released:
            problems.append(Problem(cell.line, gid, "locked cell is not part of the release"))
    return problems


def _source_of(cells: list[Cell]) -> str:
    """The file's text rebuilt from its cells, at the same line numbers (the preamble blank)."""
    lines: list[str] = []
    for cell in cells:
        lines += [""] * (cell.line - 1 - len(lines)) + ["#", *cell.lines]
    return "\n".join(lines) + "\n"


def _is_graded_test_cell(cell: Cell | None) -> bool:
    return cell is not None and cell.is_locked and (cell.nbgrader or {}).get("grade") is True


def graded_tests(cells: list[Cell], source: str, *, student_edition: bool) -> list[Problem]:
    """Graded tests stay what was released.

    A `test_unit_*`/`test_module` defined in a locked graded cell is bound nowhere else in the
    file (a later `def`, assignment, import, `del`, `global` ... would replace what is graded).
    In a student edition no such name is defined outside the locked cells at all.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []  # the file cannot be imported either; the test run reports the line
    starts = [cell.line for cell in cells]

    def cell_at(line: int) -> Cell | None:
        index = bisect.bisect_right(starts, line) - 1
        return cells[index] if index >= 0 else None

    graded: dict[str, tuple[ast.AST, Cell]] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and TEST_NAME.fullmatch(node.name):
            cell = cell_at(node.lineno)
            if _is_graded_test_cell(cell) and node.name not in graded:
                graded[node.name] = (node, cell)
    problems = []
    for found in bindings(tree, TEST_NAME.fullmatch):
        cell = cell_at(found.line)
        gid = _cell_id(cell) if cell else None
        if found.name in graded:
            node, home = graded[found.name]
            if found.node is node or (found.kind == "string" and cell is not None and cell.is_locked):
                continue
            problems.append(Problem(found.line, gid, f"{found.kind} of {found.name} would replace the graded "
                                    f"test defined at line {node.lineno} [{home.grade_id}] (locked): "
                                    "graded tests cannot be redefined; give yours another name"))
        elif student_edition and found.kind != "string" and not (cell and cell.is_locked):
            problems.append(Problem(found.line, gid, f"{found.kind} of {found.name} outside the locked test "
                                    "cells: only the released tests are graded; name your own checks "
                                    "differently (e.g. check_...)"))
    return problems


def check(cells: list[Cell], slug: str, *, require_markers: bool = True,
          released: dict[str, str] | None = None, source: str | None = None,
          student_edition: bool = False) -> list[Problem]:
    """Every problem in a parsed module file, in line order.

    `require_markers`: solution cells must contain a BEGIN/END region (true for reference
    sources; a student's file has them replaced by their own code).
    `released`: locked-cell checksums stored at release, or None to skip that check.
    `source`: the file's text, for the graded-test check (default: rebuilt from `cells`).
    `student_edition`: also refuse test functions defined outside the locked cells.
    """
    problems = _default_exp(cells, slug) + _unique_ids(cells)
    problems += graded_tests(cells, _source_of(cells) if source is None else source,
                             student_edition=student_edition)
    for cell in cells:
        problems += _metadata(cell) + _markers(cell, require_markers)
    if released is not None:
        problems += locked_cells(cells, released)
    return sorted(problems, key=lambda p: (p.line or 0, p.message))
