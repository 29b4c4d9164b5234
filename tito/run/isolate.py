"""Make `import tinytorch` mean *this* checkout's package in every process tito starts.

An editable install of another checkout (e.g. the reference repository's venv used inside a
student edition) adds an import hook that resolves any `tinytorch.<name>` missing here to that
checkout's file, which would grade the wrong code. `scrub(root)` removes such hooks.

Used three ways: `scrub()` in the inline runner; `pytest -p tito.run.isolate` (a plugin);
`python -m tito.run.isolate SCRIPT ARGS...` to run a script as `python SCRIPT ARGS...` would.
`foreign_tinytorch(root)` finds such a setup before anything is graded: tito refuses to grade there.
"""

from __future__ import annotations

import importlib.machinery
import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

from tito.errors import TitoError
from tito.registry import MODULES
from tito.run import child
from tito.run.runner import env

_STANDARD = (importlib.machinery.BuiltinImporter, importlib.machinery.FrozenImporter,
             importlib.machinery.PathFinder)


def scrub(root: Path) -> None:
    """Drop meta-path hooks that would import `tinytorch` from outside `root`."""
    root = Path(root).resolve()
    for finder in list(sys.meta_path):
        if finder in _STANDARD or isinstance(finder, _STANDARD) or not hasattr(finder, "find_spec"):
            continue
        try:
            spec = finder.find_spec("tinytorch", None)
        except Exception:  # a third-party hook that cannot answer is not ours to judge
            continue
        origin = getattr(spec, "origin", None)
        if origin and not Path(origin).resolve().is_relative_to(root):
            sys.meta_path.remove(finder)


# Run in a child process with tito's environment for child processes, before any scrubbing:
# where do `tinytorch` and each `tinytorch.<slug>` come from ("used": what an import would
# load, asking the meta-path finders in order as Python does), and which import hooks map
# tinytorch names somewhere ("hooks": e.g. an editable install's finder). Executes no tinytorch code.
_PROBE = """
import importlib.machinery as m, importlib.util as u, json, os, sys
root, names = sys.argv[1], sys.argv[2:]
package = os.path.join(root, "tinytorch")
def where(spec):
    if spec is None:
        return None
    if spec.origin not in (None, "namespace"):
        return spec.origin
    return next(iter(spec.submodule_search_locations or []), None)
def ask(finder, name):
    try:
        return where(finder.find_spec(name, None if name == "tinytorch" else [package]))
    except Exception:
        return None
used = {"tinytorch": where(u.find_spec("tinytorch"))}
for name in names:
    used[name] = next(filter(None, (ask(f, name) for f in sys.meta_path if hasattr(f, "find_spec"))), None)
standard = (m.BuiltinImporter, m.FrozenImporter, m.PathFinder)
hooks = {name: ask(f, name) for f in sys.meta_path for name in ["tinytorch", *names]
         if f not in standard and not isinstance(f, standard) and hasattr(f, "find_spec")}
print("TITO-PROBE " + json.dumps({"used": used, "hooks": hooks}))
"""
SENTINEL = "TITO-PROBE "


def _outside(origin: str | None, root: Path) -> bool:
    if not origin or origin in ("built-in", "frozen"):
        return False
    return not Path(origin).resolve().is_relative_to(root)


def foreign_tinytorch(root: Path) -> str | None:
    """Where `tinytorch` or a `tinytorch.<slug>` would be imported from outside `root`, or None.

    Asked in a child process started as tito starts its test runs (same interpreter, this
    checkout first on PYTHONPATH), so `.pth` files and import hooks of the environment apply.
    """
    root = Path(root).resolve()
    names = [f"tinytorch.{m.slug}" for m in MODULES]
    proc = None
    try:
        proc = subprocess.run([sys.executable, "-c", _PROBE, str(root), *names], cwd=root, env=env(root),
                              capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(SENTINEL)]
        found = json.loads(lines[-1][len(SENTINEL):])  # other output (a .pth, a sitecustomize) is ignored
    except (OSError, subprocess.SubprocessError, ValueError, IndexError) as exc:
        # fail closed: an environment tito cannot inspect is not one to grade in
        detail = ((proc.stderr if proc else "").strip().splitlines() or [str(exc)])[-1]
        return f"tito could not check which `tinytorch` this environment imports ({detail})"
    for name, origin in found["used"].items():
        if _outside(origin, root):
            return f"`import {name}` loads {origin}"
    for name, origin in found["hooks"].items():
        if _outside(origin, root):
            return f"an import hook maps `{name}` to {origin} (for any file missing here)"
    return None


def require_own_tinytorch(root: Path) -> None:
    """Refuse to test or grade where another checkout's `tinytorch` can be imported."""
    found = foreign_tinytorch(root)
    if found:
        raise TitoError(f"In this Python environment ({sys.prefix}) {found}, outside this repository "
                        f"{Path(root).resolve()}: tests could run another checkout's code, so tito will "
                        "not test or grade here.", fix_hint(root))


def fix_hint(root: Path) -> str:
    return (f"Use this repository's own environment, or install it into this one: "
            f"`{Path(sys.executable).name} -m pip install -e {Path(root).resolve()}` "
            f"(a venv belongs to one checkout; e.g. `python3 -m venv .venv` in {os.path.basename(root)}/).")


def pytest_load_initial_conftests(early_config, parser, args) -> None:  # noqa: ANN001 - pytest hook
    """Pytest plugin hook: scrub before any conftest or test imports tinytorch."""
    scrub(Path(early_config.invocation_params.dir))


def main() -> None:
    script, *args = sys.argv[1:]
    child.die_with_parent()  # a milestone or benchmark script ends with tito, even after `kill -9`
    scrub(Path.cwd())
    sys.argv = [script, *args]
    sys.path.insert(0, str(Path(script).resolve().parent))
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
