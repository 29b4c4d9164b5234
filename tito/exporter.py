"""Build `tinytorch/<slug>.py` from a module file's `#| export` cells, and check the package is current."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tito import notebook
from tito.errors import TitoError
from tito.registry import MODULES, Module, available


def generate(root: Path, module: Module) -> str:
    """The exact text the package file should hold for this module's current source."""
    cells = notebook.parse(root / module.source)
    name = notebook.default_exp(cells)
    if name != module.slug:
        raise TitoError(f"{module.source}: '{notebook.DEFAULT_EXP} {name}' should be "
                        f"'{notebook.DEFAULT_EXP} {module.slug}'.")
    return notebook.export_text(cells, module.source.as_posix())


def export(root: Path, module: Module) -> Path:
    """Write the module's package file atomically; return its path."""
    target = root / module.export_target
    notebook.write_atomic(target, generate(root, module))
    return target


@dataclass(frozen=True)
class Stale:
    target: Path
    reason: str  # "differs" or "missing"


def stale(root: Path) -> list[Stale]:
    """Package files that differ from what their (existing) sources would generate."""
    found = []
    for module in available(root):
        target = root / module.export_target
        if not target.exists():
            found.append(Stale(module.export_target, "missing"))
        elif target.read_text(encoding="utf-8") != generate(root, module):
            found.append(Stale(module.export_target, "differs"))
    return found


def provided_files(root: Path) -> list[Path]:
    """Files in tinytorch/ that no registry module generates (e.g. __init__.py, datasets.py)."""
    targets = {m.export_target for m in MODULES}
    package = root / "tinytorch"
    return sorted(p.relative_to(root) for p in package.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and p.relative_to(root) not in targets)
