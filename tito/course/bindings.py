"""Every place a Python file binds (or deletes) a name: to find graded tests that are redefined.

Static, so it sees what `def`, `=`, `import ... as`, `del`, `global`, `for`, `with ... as`,
`except ... as`, `:=`, `match` captures and parameters do, plus string literals equal to the
name (as `globals()["name"] = ...` or `setattr(module, "name", ...)` would need).
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Binding:
    name: str
    line: int
    kind: str  # "def", "class", "assignment", "del", "import", "global", "parameter", "string", ...
    node: ast.AST


def _names(node: ast.AST) -> list[tuple[str, str]]:
    """(name, kind) pairs that `node` itself binds."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return [(node.name, "def")]
    if isinstance(node, ast.ClassDef):
        return [(node.name, "class")]
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
        return [(node.id, "assignment")]
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Del):
        return [(node.id, "del")]
    if isinstance(node, ast.alias):
        return [(node.asname or node.name.split(".")[0], "import")]
    if isinstance(node, (ast.Global, ast.Nonlocal)):
        return [(name, "global declaration") for name in node.names]
    if isinstance(node, ast.ExceptHandler) and node.name:
        return [(node.name, "except ... as")]
    if isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
        return [(node.name, "match capture")]
    if isinstance(node, ast.MatchMapping) and node.rest:
        return [(node.rest, "match capture")]
    if isinstance(node, ast.arg):
        return [(node.arg, "parameter")]
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [(node.value, "string")]
    return []


def bindings(tree: ast.AST, wanted: Callable[[str], object]) -> list[Binding]:
    """Every binding of a name for which `wanted(name)` is true, in line order."""
    found = [Binding(name, getattr(node, "lineno", 0), kind, node)
             for node in ast.walk(tree) for name, kind in _names(node) if wanted(name)]
    return sorted(found, key=lambda b: b.line)
