"""`tito module import NN NOTEBOOK.ipynb`: a notebook (e.g. one that went through nbgrader) back into the
module file, checked first, the old file backed up, the new one written atomically.

The conversion is jupytext's percent format, with only what nbgrader adds taken away:
- `checksum` and `cell_type` in each cell's `nbgrader` metadata, the `deletable`/`editable` cell flags;
- the notebook's own metadata (nbgrader's kernelspec, Jupyter's language_info ...): the file's header
  is the module's own, as released;
- the nbgrader metadata whose flags are all false, which `tito nbgrader generate` drops (nbgrader
  would warn about those cells), is put back on the cells it was taken from (matched with the
  released file by order and code); a cell that cannot be matched stays plain, which no tito check
  minds (a cell without metadata is a plain cell).
So the untouched notebook of a student edition's file gives back that file byte for byte.
Cell code is never changed (jupytext comments out IPython magics such as `%timeit`, as a paired
notebook does, so that the file stays plain Python).
"""

from __future__ import annotations

import copy
import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path

from tito.course import notebook
from tito.course.edition import is_student_edition, released_text
from tito.course.sources import read_source
from tito.errors import TitoError
from tito.registry import MODULES, Module
from tito.run import pipeline
from tito.state import backups
from tito.state.atomic import write_atomic

NBGRADER_KEYS = ("checksum", "cell_type")  # added inside a cell's `nbgrader` metadata
NBGRADER_FLAGS = ("deletable", "editable")  # added to a cell's metadata
FLAGS = ("grade", "solution", "locked", "task")
_CELL = "# %%"


@dataclass
class Plan:
    """What importing a notebook would do: the new file text, and how it differs from the current one."""

    module: Module
    notebook: Path
    text: str  # the module file the notebook gives
    cells: int  # cells read from the notebook
    unchanged: bool
    added: int = 0  # lines added / removed compared with the current file
    removed: int = 0
    changed_cells: list[str] = field(default_factory=list)  # grade_ids (or "<cell at line N>") touched
    restored: int = 0  # cells whose all-false nbgrader metadata was put back
    warnings: list[str] = field(default_factory=list)


def read_notebook(path: Path):  # -> nbformat.NotebookNode
    """The notebook at `path`; a TitoError saying what is wrong (missing, not UTF-8, not a notebook)."""
    import nbformat

    path = Path(path)
    try:
        text = read_source(path)  # names the line and byte that is not UTF-8
    except TitoError as exc:
        raise TitoError(exc.message, "Pass the .ipynb file you downloaded or saved from Jupyter (notebooks "
                                     "are UTF-8 JSON; File > Download gets a clean copy).") from exc
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise TitoError(f"{path} is not a notebook: not JSON ({exc}).",
                        "Pass the .ipynb file itself (not the .py module file or an HTML export).") from exc
    if not (isinstance(raw, dict) and isinstance(raw.get("cells"), list) and "nbformat" in raw):
        raise TitoError(f"{path} is JSON but not a notebook (no 'nbformat' and 'cells').",
                        "Pass the .ipynb file you downloaded or saved from Jupyter.")
    try:
        return nbformat.reads(text, as_version=4)
    except Exception as exc:  # nbformat raises several types for a malformed notebook
        raise TitoError(f"{path} is not a notebook nbformat can read ({exc}).",
                        "Open it in Jupyter and save it again.") from exc


def _strip_nbgrader(nb) -> None:
    """Remove exactly what nbgrader adds to the cells."""
    for cell in nb.cells:
        for key in NBGRADER_FLAGS:
            cell.metadata.pop(key, None)
        meta = cell.metadata.get("nbgrader")
        if isinstance(meta, dict):
            for key in NBGRADER_KEYS:
                meta.pop(key, None)


def _grade_id(cell) -> str | None:
    meta = cell.metadata.get("nbgrader")
    gid = meta.get("grade_id") if isinstance(meta, dict) else None
    return gid if isinstance(gid, str) else None


def _all_false(cell) -> bool:
    meta = cell.metadata.get("nbgrader")
    return isinstance(meta, dict) and isinstance(meta.get("grade_id"), str) and not any(
        meta.get(flag) for flag in FLAGS)


def _key(cell) -> tuple:
    """How cells are matched: by grade_id, else (plain, all-false or without metadata) by kind and code."""
    gid = None if _all_false(cell) else _grade_id(cell)
    return ("id", gid) if gid else ("plain", cell.cell_type, cell.source)


def _restore_plain_metadata(nb, template) -> int:
    """Put the template's all-false nbgrader metadata back on the notebook's matching plain cells;
    returns how many. Matching: the longest common sequence of cells (grade_ids anchor it); a run of
    edited cells between two matches is paired one to one when both runs have the same length."""
    present = {_grade_id(c) for c in nb.cells} - {None}
    matcher = difflib.SequenceMatcher(None, [_key(c) for c in template.cells], [_key(c) for c in nb.cells],
                                      autojunk=False)
    restored = 0
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op not in ("equal", "replace") or i2 - i1 != j2 - j1:
            continue
        for old, new in zip(template.cells[i1:i2], nb.cells[j1:j2]):
            gid = _grade_id(old)
            if (_all_false(old) and "nbgrader" not in new.metadata and old.cell_type == new.cell_type
                    and gid not in present):
                new.metadata["nbgrader"] = copy.deepcopy(old.metadata["nbgrader"])
                present.add(gid)
                restored += 1
    return restored


def _preamble(text: str) -> str:
    """The lines before the first cell (jupytext's header and the blank line after it)."""
    lines = text.splitlines(keepends=True)
    for n, line in enumerate(lines):
        if line.startswith(_CELL):
            return "".join(lines[:n])
    return text


def _template(root: Path, module: Module) -> str | None:
    """The module file as released (else the current file): its header and plain cells' metadata."""
    for read in (lambda: released_text(root, module), lambda: read_source(root / module.source, root)):
        try:
            return read()
        except TitoError:
            continue
    return None


def convert(nb, template: str | None = None) -> tuple[str, int]:
    """The percent-format module file of notebook `nb` (not modified) and how many cells got their
    all-false nbgrader metadata back from `template` (the module file as released)."""
    import jupytext

    nb = copy.deepcopy(nb)
    _strip_nbgrader(nb)
    try:
        model = None if template is None else jupytext.reads(template, fmt="py:percent")
    except Exception:  # a header jupytext cannot read (hand-edited): jupytext's own header then
        model = None
    if model is None:
        nb.metadata = {}
        return jupytext.writes(nb, fmt="py:percent"), 0
    restored = _restore_plain_metadata(nb, model)
    nb.metadata = copy.deepcopy(model.metadata)  # the module's jupytext settings render its cells
    text = jupytext.writes(nb, fmt="py:percent")
    return _preamble(template) + text[len(_preamble(text)):], restored


def _check_module(module: Module, path: Path, text: str, template: str | None) -> None:
    """Refuse another module's notebook, or one that holds nothing of this module."""
    cells = notebook.parse_text(text)[1]
    named = notebook.default_exp(cells)
    if named is not None and named != module.slug:
        owner = next((m for m in MODULES if m.slug == named), None)
        whose = f"module {owner.number} ({owner.title})" if owner else f"tinytorch/{named}.py"
        raise TitoError(f"{path} is the notebook of {whose}, not of module {module.number} ({module.title}): "
                        f"its `{notebook.DEFAULT_EXP} {named}` names tinytorch/{named}.py.",
                        f"Import it as `tito module import {owner.number if owner else 'NN'} {path}`, or "
                        "pass this module's notebook.")
    if named is None:
        ours = {c.grade_id for c in notebook.parse_text(template or "")[1] if c.nbgrader}
        if not ours & {c.grade_id for c in cells if c.nbgrader}:
            raise TitoError(f"{path} holds no cell of module {module.number} ({module.title}): no "
                            f"`{notebook.DEFAULT_EXP} {module.slug}` line and none of its graded or "
                            "solution cells.", "Pass this module's notebook (e.g. "
                                               f"{module.name}.ipynb from your course).")


def _diff(old: str, new: str) -> tuple[int, int, list[str]]:
    """(lines added, lines removed, grade_ids of the new file's cells that changed)."""
    a, b = old.splitlines(), new.splitlines()
    added = removed = 0
    touched: list[int] = []  # 1-based lines of the new text
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            continue
        removed, added = removed + i2 - i1, added + j2 - j1
        touched += list(range(j1 + 1, j2 + 1)) or [j1 + 1]
    cells = notebook.parse_text(new)[1]
    names: list[str] = []
    for line in touched:
        cell = next((c for c in reversed(cells) if c.line <= line), None)
        name = cell.grade_id if cell else "header"
        if name not in names:
            names.append(name)
    return added, removed, names


def plan(root: Path, module: Module, path: Path) -> Plan:
    """Read, convert and check the notebook; write nothing. A TitoError if it must be refused."""
    nb = read_notebook(path)
    template = _template(root, module)
    text, restored = convert(nb, template)
    _check_module(module, path, text, template)
    try:
        current = (root / module.source).read_bytes()
    except OSError:
        current = b""
    result = Plan(module, Path(path), text, len(nb.cells), unchanged=current == text.encode("utf-8"),
                  restored=restored)
    if result.unchanged:
        return result
    step = pipeline.check_metadata(root, module, text)
    result.warnings = step.warnings
    if not step.ok:
        hints = {h.format(n=module.number) for h in pipeline.LOCK_HINTS.values()}
        problems = [d for d in step.details if d not in hints]  # the hint below fits an import better
        hint = "Fix the notebook and import it again; your module file is unchanged."
        if not is_student_edition(root) and any("region" in d for d in problems):
            hint = ("This is the reference repository: its solution cells keep their solution regions. "
                    "A student's notebook belongs in a student edition (`tito release student DIR`). "
                    "Your module file is unchanged.")
        if any("locked cell" in d for d in problems):
            hint = ("A graded test cell must stay as released: undo the change in the notebook (or take "
                    "the cell from the released notebook) and import again. Your module file is unchanged.")
        raise TitoError(f"{path} cannot become {module.source.as_posix()}: {len(problems)} problem(s) "
                        "(lines are those of the converted file):\n  " + "\n  ".join(problems), hint)
    result.added, result.removed, result.changed_cells = _diff(current.decode("utf-8", "replace"), text)
    return result


def apply(root: Path, result: Plan) -> Path:
    """Back up the current module file, then replace it atomically; returns the backup."""
    saved = backups.backup(root, result.module)  # first: the old file is safe before anything changes
    write_atomic(root / result.module.source, result.text)
    return saved
