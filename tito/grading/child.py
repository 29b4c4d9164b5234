"""Run a module file's cells in order, as a notebook kernel would, and record each cell's outcome.

    python -S -P run_cells.py CELLS.json OUT.jsonl [--timeout SECONDS]

Standard library only: tito copies this file next to the grading package (tito.grading.grader) and runs
it in the isolated Python (`isolated_python_argv()`), where neither tito nor the repository can be
imported. Every cell runs in one `__main__` namespace, like a Jupyter kernel; a cell that raises
is recorded and the next cell runs (nbgrader's autograde does the same). One JSON line per cell is
appended to OUT and flushed, so the parent keeps what ran even if the process has to be stopped.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import json
import signal
import sys
import threading
import traceback


class CellTimeout(BaseException):
    """Raised inside a cell that overran (a BaseException: a student's `except Exception` cannot eat it)."""


@contextlib.contextmanager
def time_limit(seconds: float):
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable or seconds <= 0:
        yield
        return

    def expire(signum, frame):  # noqa: ANN001 - signal handler
        raise CellTimeout(f"the cell did not finish within {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def describe(exc: BaseException, filename: str) -> dict:
    """The error in one line, and the line of the student's file where it arose (the deepest frame there)."""
    line = getattr(exc, "lineno", None) if isinstance(exc, SyntaxError) else None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == filename:
            line = frame.lineno
    text = str(exc).strip().splitlines()
    message = f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
    return {"error_type": type(exc).__name__, "error": message[:300], "error_line": line,
            "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-3000:]}


def main(argv: list[str]) -> int:
    cells_path, out_path = argv[0], argv[1]
    timeout = float(argv[argv.index("--timeout") + 1]) if "--timeout" in argv else 0.0
    with open(cells_path, encoding="utf-8") as f:
        job = json.load(f)
    namespace = {"__name__": "__main__", "__builtins__": builtins, "__doc__": None}
    sys.argv = [job.get("filename", "notebook")]
    with open(out_path, "a", encoding="utf-8") as out:
        for index, cell in enumerate(job["cells"]):
            result: dict = {"index": index, "ok": True}
            buffer = io.StringIO()
            namespace["__name__"] = "__main__"  # graded cells run their tests under this guard
            try:
                with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer), \
                        time_limit(timeout):
                    code = compile(cell["source"], cell["filename"], "exec")
                    exec(code, namespace)
            except BaseException as exc:  # noqa: B036 - SystemExit, a timeout: the cell failed
                result.update(ok=False, **describe(exc, cell["filename"]))
            result["output"] = buffer.getvalue()[-2000:]
            out.write(json.dumps(result) + "\n")
            out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
