"""Fingerprints of locked cells (the graded tests), compared with `modules/locked_cells.json`."""

from __future__ import annotations

import hashlib
import json

from tito.notebook import Cell


def checksum(cell: Cell) -> str:
    """Fingerprint of a locked cell: its metadata and its code, trailing spaces ignored."""
    body = "\n".join(ln.rstrip() for ln in cell.lines).strip("\n")
    meta = json.dumps(cell.nbgrader or {}, sort_keys=True)
    return hashlib.sha256(f"{cell.kind}\n{meta}\n{body}".encode()).hexdigest()


def locked_checksums(cells: list[Cell]) -> dict[str, str]:
    return {cell.grade_id: checksum(cell) for cell in cells if cell.is_locked}
