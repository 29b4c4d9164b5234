"""Run a module file's own tests in a fresh interpreter and report them as JSON.

    python -m tito.run.inline_runner FILE --out RESULT.json   (cwd: the repository root)

Imports FILE under a non-__main__ name (so its demos and `if __name__ == "__main__":` calls
do not run), with the repository root first on sys.path and other checkouts' import hooks
removed (so `tinytorch` is this checkout's; see tito.run.isolate).
Then calls every top-level `test_unit_*` function in definition order and `test_module` last,
each with its printed output captured. Points come from the graded cell defining the function.

Each test (and the import) gets `--limit` seconds (SIGALRM where available), and `--cpu-limit`
seconds of CPU time when given (SIGPROF: a machine's load barely changes it); after a test that
overran, the rest are reported as not run. `--first-failure` stops at the first failing test (the
mutation check needs no more). The mutation check also asks, through `run`, for the lines of the
file that the import and each test run (`record_lines`), and for only the tests that reach a
mutated line (`only`). The step that runs is reported to tito (tito.run.child),
so tito can name it if it has to stop the whole process.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import importlib.util
import json
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from types import FunctionType, ModuleType

from tito.course import notebook
from tito.run import child
from tito.run.isolate import scrub
from tito.run.lines_run import LineRecorder

MODULE_NAME = "tito_student_module"


class TestTimeout(BaseException):
    """Raised inside a test that overran its limit (a BaseException: `except Exception` cannot eat it)."""

    def __init__(self, what: str) -> None:  # what: "did not finish within 60 s"
        super().__init__(f"{what} (an endless loop?); `--timeout SECONDS` allows longer")
        self.what = what


@contextlib.contextmanager
def time_limit(seconds: float, cpu_seconds: float = 0) -> Iterator[None]:
    """Interrupt the block after `seconds` (SIGALRM), or after `cpu_seconds` of this process's CPU
    time (SIGPROF), where the OS allows; else tito's watchdog stops it."""
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    timers = [(signal.ITIMER_REAL, signal.SIGALRM, seconds, "s"),
              (signal.ITIMER_PROF, signal.SIGPROF, cpu_seconds, "s of CPU time")] if usable else []
    timers = [t for t in timers if t[2] > 0]
    previous = []
    for which, signum, limit, unit in timers:
        def expire(signum, frame, limit=limit, unit=unit):  # noqa: ANN001 - signal handler
            raise TestTimeout(f"did not finish within {limit:g} {unit}")

        previous.append((which, signum, signal.signal(signum, expire)))
        signal.setitimer(which, limit)
    try:
        yield
    finally:
        for which, signum, handler in previous:
            signal.setitimer(which, 0)
            signal.signal(signum, handler)


def _student_frames(exc: BaseException, path: Path) -> tuple[traceback.FrameSummary | None, ...]:
    """The deepest frame of the student's file in the traceback (where it raised), and the deepest
    frame of a test function there (the failing check), which may be the same frame."""
    deepest = test = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if Path(frame.filename).resolve() == path:
            deepest = frame
            if frame.name.startswith("test_"):
                test = frame
    return deepest, test


def _statement(frame: traceback.FrameSummary, path: Path) -> str:
    """The source of the failing statement (all its lines, when it spans several; at most 6)."""
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    end = getattr(frame, "end_lineno", None) or frame.lineno
    end = min(max(end, frame.lineno), frame.lineno + 5)
    return "\n".join(lines[frame.lineno - 1:end]).strip() if frame.lineno <= len(lines) else ""


def _error(exc: BaseException, path: Path) -> dict:
    """The error, where it happened in the student's file, and a traceback without the runner's frames."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not f.filename.startswith("<frozen") and Path(f.filename).parent != Path(__file__).parent]
    text = "".join(traceback.format_list(frames[-6:]) + traceback.format_exception_only(exc))
    deepest, test = _student_frames(exc, path)
    frame = test or deepest  # report the check that failed; name the code it called, if it raised there
    raised_in = ""
    if deepest is not None and deepest is not frame:
        code = _statement(deepest, path).splitlines()
        raised_in = f"line {deepest.lineno}, in {deepest.name}: {code[0] if code else ''}".rstrip(": ")
    return {"error_type": type(exc).__name__, "error": str(exc), "traceback": text,
            "where": frame.lineno if frame else None,
            "function": frame.name if frame else None,
            "statement": _statement(frame, path) if frame else "",
            "raised_in": raised_in}


def _is_test(name: str) -> bool:
    return name.startswith("test_unit_") or name == "test_module"


def _tests(module: ModuleType) -> list[FunctionType]:
    found = [f for name, f in vars(module).items()
             if isinstance(f, FunctionType) and f.__module__ == MODULE_NAME and _is_test(name)]
    found.sort(key=lambda f: (f.__name__ == "test_module", f.__code__.co_firstlineno))
    return found


def _graded_defs(path: Path, cells: list[tuple[int, dict]]) -> dict[str, tuple[int, dict]]:
    """name -> (first line, cell metadata) of each test function that a locked graded cell defines."""
    found = {}
    for node in ast.parse(path.read_text(encoding="utf-8", errors="replace")).body:
        if isinstance(node, ast.FunctionDef) and _is_test(node.name):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            meta = _cell_meta(cells, first)
            if meta.get("grade") and meta.get("locked"):
                found[node.name] = (first, meta)
    return found


def _impostors(module: ModuleType, path: Path, graded: dict[str, tuple[int, dict]]) -> list[dict]:
    """A failed result for each graded test that is not, at run time, the function its locked cell
    defines (rebound through exec, globals().update, ...): the static check cannot see everything."""
    failed = []
    for name, (line, meta) in graded.items():
        f = vars(module).get(name)
        code = getattr(f, "__code__", None)
        if code is not None and code.co_filename == str(path) and code.co_firstlineno == line:
            continue
        failed.append({"name": name, "line": line, "grade_id": meta.get("grade_id"),
                       "points": meta.get("points", 0), "passed": False, "error_type": "GradingError",
                       "error": f"the graded test {name} (line {line}, locked) was replaced or removed while "
                                "the file ran; graded tests run only as their locked cell defines them",
                       "where": line, "function": None, "statement": "", "raised_in": "",
                       "output": "", "seconds": 0})
    return failed


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


def grading_layout(path: Path) -> tuple[list[tuple[int, dict]], dict[str, tuple[int, dict]]]:
    """What the runner needs to know of a file's cells: (the cells' header lines and metadata, the
    graded test functions). Two files whose lines differ only inside a line have the same layout."""
    cells = _grading(path)
    return cells, _graded_defs(path, cells)


def run(path: Path, root: Path, limit: float = 0, cpu_limit: float = 0, first_failure: bool = False,
        layout: tuple | None = None, only: list[str] | None = None, record_lines: bool = False) -> dict:
    """The JSON report of importing `path` and running its tests. `only`: run just these tests (the
    others are reported as skipped); `record_lines`: add "lines", the lines of `path` the import and
    each test ran (tito.run.lines_run)."""
    path = path.resolve()
    lines: dict = {"tests": {}}
    recorder = LineRecorder(path)

    def recording(found: dict, key: str) -> contextlib.AbstractContextManager:
        return recorder.recording(found, key) if record_lines else contextlib.nullcontext()

    sys.path.insert(0, str(root))
    child.import_staged_first()
    scrub(root)
    report: dict = {"file": str(path), "import_error": None, "tests": []}
    spec = importlib.util.spec_from_file_location(MODULE_NAME, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[MODULE_NAME] = module
    buffer = child.BoundedText()
    child.report_step(f"importing {path.name}")
    cpu_start = time.process_time()
    try:
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer), \
                time_limit(limit, cpu_limit), recording(lines, "import"):
            spec.loader.exec_module(module)
    except BaseException as exc:  # noqa: B036 - a student's SystemExit must be reported too
        report["import_error"] = {**_error(exc, path), "output": buffer.getvalue()}
        return report
    report["import_cpu_seconds"] = round(time.process_time() - cpu_start, 3)
    cells, graded = layout or grading_layout(path)
    report["tests"] = _impostors(module, path, graded)
    replaced = {t["name"] for t in report["tests"]}
    stop = False  # after a test that never ends (or any failure, with first_failure), the rest do not run
    for func in _tests(module):
        if func.__name__ in replaced:
            continue  # an impostor, reported above
        meta = _cell_meta(cells, func.__code__.co_firstlineno)
        points = meta.get("points", 0) if meta.get("grade") else 0
        result = {"name": func.__name__, "line": func.__code__.co_firstlineno,
                  "grade_id": meta.get("grade_id"), "points": points}
        if stop or (only is not None and func.__name__ not in only):
            report["tests"].append({**result, "passed": True, "skipped": True, "output": "", "seconds": 0,
                                    "cpu_seconds": 0})
            continue
        buffer = child.BoundedText()
        start, cpu_start = time.perf_counter(), time.process_time()
        child.report_step(func.__name__)
        try:
            with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer), \
                    time_limit(limit, cpu_limit), recording(lines["tests"], func.__name__):
                func()
            result.update(passed=True)
        except BaseException as exc:  # noqa: B036 - report any failure, including SystemExit
            if isinstance(exc, KeyboardInterrupt):
                raise
            result.update(passed=False, **_error(exc, path))
            stop = first_failure or isinstance(exc, TestTimeout)
            if isinstance(exc, TestTimeout):
                result["error"] = (f"{exc.what} (an endless loop?), so the tests after it were not run; "
                                   "`--timeout SECONDS` allows longer")
        result.update(seconds=round(time.perf_counter() - start, 3),
                      cpu_seconds=round(time.process_time() - cpu_start, 3), output=buffer.getvalue())
        report["tests"].append(result)
    if record_lines:
        report["lines"] = lines
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tito.run.inline_runner",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="where to write the JSON report")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="repository root (default: cwd)")
    parser.add_argument("--limit", type=float, default=0, help="seconds per test (0: no limit)")
    parser.add_argument("--cpu-limit", type=float, default=0,
                        help="seconds of CPU time per test (0: no limit)")
    parser.add_argument("--first-failure", action="store_true", help="stop at the first failing test")
    args = parser.parse_args(argv)
    child.die_with_parent()
    child.bound_file_sizes()
    report = run(args.file, args.root.resolve(), args.limit, args.cpu_limit, args.first_failure)
    args.out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    failed = report["import_error"] or not all(t["passed"] for t in report["tests"])  # skipped: passed
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
