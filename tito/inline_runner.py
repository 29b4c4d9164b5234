"""Run a module file's own tests in a fresh interpreter and report them as JSON.

    python -m tito.inline_runner FILE --out RESULT.json   (cwd: the repository root)

Imports FILE under a non-__main__ name (so its demos and `if __name__ == "__main__":` calls
do not run), with the repository root first on sys.path and other checkouts' import hooks
removed (so `tinytorch` is this checkout's; see tito.isolate).
Then calls every top-level `test_unit_*` function in definition order and `test_module` last,
each with its printed output captured. Points come from the graded cell defining the function.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import sys
import time
import traceback
from pathlib import Path
from types import FunctionType, ModuleType

from tito import notebook
from tito.isolate import scrub

MODULE_NAME = "tito_student_module"


def _where(exc: BaseException, path: Path) -> int | None:
    """The deepest line of the student's file in the traceback."""
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if Path(frame.filename).resolve() == path:
            line = frame.lineno
    return line


def _error(exc: BaseException, path: Path) -> dict:
    """The error, and a traceback without the runner's and importlib's frames."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not f.filename.startswith("<frozen") and Path(f.filename).parent != Path(__file__).parent]
    text = "".join(traceback.format_list(frames[-6:]) + traceback.format_exception_only(exc))
    return {"error_type": type(exc).__name__, "error": str(exc), "where": _where(exc, path),
            "traceback": text}


def _tests(module: ModuleType) -> list[FunctionType]:
    found = [f for name, f in vars(module).items()
             if isinstance(f, FunctionType) and f.__module__ == MODULE_NAME
             and (name.startswith("test_unit_") or name == "test_module")]
    found.sort(key=lambda f: (f.__name__ == "test_module", f.__code__.co_firstlineno))
    return found


def _grading(path: Path) -> list[tuple[int, dict]]:
    """(header line, nbgrader metadata) of each cell, to find the cell around a line."""
    return [(cell.line, cell.nbgrader or {}) for cell in notebook.parse(path)
            if isinstance(cell.nbgrader or {}, dict)]


def _cell_meta(cells: list[tuple[int, dict]], line: int) -> dict:
    meta: dict = {}
    for start, candidate in cells:
        if start > line:
            break
        meta = candidate
    return meta


def run(path: Path, root: Path) -> dict:
    path = path.resolve()
    sys.path.insert(0, str(root))
    scrub(root)
    report: dict = {"file": str(path), "import_error": None, "tests": []}
    spec = importlib.util.spec_from_file_location(MODULE_NAME, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[MODULE_NAME] = module
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            spec.loader.exec_module(module)
    except BaseException as exc:  # noqa: B036 - a student's SystemExit must be reported too
        report["import_error"] = {**_error(exc, path), "output": buffer.getvalue()[-4000:]}
        return report
    cells = _grading(path)
    for func in _tests(module):
        meta = _cell_meta(cells, func.__code__.co_firstlineno)
        points = meta.get("points", 0) if meta.get("grade") else 0
        result = {"name": func.__name__, "line": func.__code__.co_firstlineno,
                  "grade_id": meta.get("grade_id"), "points": points}
        buffer = io.StringIO()
        start = time.perf_counter()
        try:
            with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
                func()
            result.update(passed=True)
        except BaseException as exc:  # noqa: B036 - report any failure, including SystemExit
            if isinstance(exc, KeyboardInterrupt):
                raise
            result.update(passed=False, **_error(exc, path))
        result.update(seconds=round(time.perf_counter() - start, 3), output=buffer.getvalue()[-4000:])
        report["tests"].append(result)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tito.inline_runner", description=__doc__.split("\n")[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="where to write the JSON report")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="repository root (default: cwd)")
    args = parser.parse_args(argv)
    report = run(args.file, args.root.resolve())
    args.out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    failed = report["import_error"] or not all(t["passed"] for t in report["tests"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
