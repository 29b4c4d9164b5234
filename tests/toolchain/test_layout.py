"""tito's layout shows its architecture: a few shared modules, then rooms that import only from
the rooms before them (tito/__init__.py tells what each holds)."""

from __future__ import annotations

import ast
from pathlib import Path

TITO = Path(__file__).resolve().parents[2] / "tito"
SHARED = {"registry", "errors", "console"}  # used by every room; nothing of tito below them
ROOMS = ["state", "course", "run", "grading", "book", "cli"]  # each may import from the ones before it


def _tito_imports(path: Path) -> set[str]:
    """The first part below `tito.` of every tito module the file imports (e.g. "course")."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = ([node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
                 else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
        found |= {n.split(".")[1] for n in names if n.startswith("tito.")}
        if isinstance(node, ast.ImportFrom) and node.module == "tito":
            found |= {a.name for a in node.names}
    return found - {"__version__"}


def test_top_level_holds_only_the_shared_modules_and_the_rooms():
    modules = {p.stem for p in TITO.glob("*.py")} - {"__init__", "__main__"}
    rooms = {p.name for p in TITO.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert modules == SHARED and rooms == set(ROOMS)
    assert all((TITO / room / "__init__.py").is_file() for room in ROOMS)


def test_shared_modules_import_nothing_of_the_rooms():
    for name in SHARED:
        assert not _tito_imports(TITO / f"{name}.py") & set(ROOMS), name


def test_each_room_imports_only_from_the_rooms_before_it():
    wrong = []
    for i, room in enumerate(ROOMS):
        allowed = SHARED | set(ROOMS[:i + 1])
        for path in sorted((TITO / room).glob("*.py")):
            if bad := _tito_imports(path) - allowed:
                wrong.append(f"tito/{room}/{path.name} imports from {sorted(bad)}")
    assert not wrong, "\n".join(wrong)
