"""Make `import tinytorch` mean *this* checkout's package in every process tito starts.

An editable install of another checkout (e.g. the reference repository's venv used inside a
student edition) adds an import hook that resolves any `tinytorch.<name>` missing here to that
checkout's file, which would grade the wrong code. `scrub(root)` removes such hooks.

Used three ways: `scrub()` in the inline runner; `pytest -p tito.isolate` (a plugin);
`python -m tito.isolate SCRIPT ARGS...` to run a script as `python SCRIPT ARGS...` would.
"""

from __future__ import annotations

import importlib.machinery
import runpy
import sys
from pathlib import Path

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


def pytest_load_initial_conftests(early_config, parser, args) -> None:  # noqa: ANN001 - pytest hook
    """Pytest plugin hook: scrub before any conftest or test imports tinytorch."""
    scrub(Path(early_config.invocation_params.dir))


def main() -> None:
    script, *args = sys.argv[1:]
    scrub(Path.cwd())
    sys.argv = [script, *args]
    sys.path.insert(0, str(Path(script).resolve().parent))
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
