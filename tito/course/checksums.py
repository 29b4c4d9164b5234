"""Fingerprints of locked cells (the graded tests), compared with `modules/locked_cells.json`."""

from __future__ import annotations

import hashlib
import json

from tito.course.notebook import Cell

# Keys nbgrader adds to a cell's `nbgrader` metadata when it generates an assignment (`checksum`:
# its own fingerprint of the cell, `cell_type`). tito never writes them, so ignoring them keeps the
# check exactly as strict for every key tito writes (grade_id, points, grade, locked, solution,
# task, schema_version). The `deletable`/`editable` flags nbgrader sets are cell metadata outside
# `nbgrader` and never entered the fingerprint.
NBGRADER_ADDED = frozenset({"checksum", "cell_type"})


def checksum(cell: Cell) -> str:
    """Fingerprint of a locked cell: its metadata and its code, trailing spaces ignored; a
    notebook that went through nbgrader fingerprints like its source (see NBGRADER_ADDED)."""
    body = "\n".join(ln.rstrip() for ln in cell.lines).strip("\n")
    meta = cell.nbgrader or {}
    if isinstance(meta, dict):
        meta = {k: v for k, v in meta.items() if k not in NBGRADER_ADDED}
    meta = json.dumps(meta, sort_keys=True)
    return hashlib.sha256(f"{cell.kind}\n{meta}\n{body}".encode()).hexdigest()


def locked_checksums(cells: list[Cell]) -> dict[str, str]:
    return {cell.grade_id: checksum(cell) for cell in cells if cell.is_locked}
