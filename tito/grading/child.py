"""Run a module file's cells in order, as a notebook kernel would, and record each cell's outcome.

    python -S -P run_cells.py CELLS.json --results-fd N [--timeout SECONDS]

Standard library only (NumPy for the probes): tito copies this file next to the grading package
(tito.grading.grader) and runs it in the jail (tito.grading.jail), where neither tito nor the
repository can be imported. Every cell runs in one `__main__` namespace, like a Jupyter kernel; a
cell that raises is recorded and the next cell runs (nbgrader's autograde does the same). One JSON
line per cell is written to the file descriptor N (a file tito opened) and flushed, so the parent
keeps what ran even if the process has to be stopped.

Then, when CELLS.json names a probe file, each probe (tito.grading.probes) is called with the
namespace and a generator seeded by the job's seed, and what it returns is written as plain data.
Nothing written here decides a grade on its own: student code runs in this process and could write
anything. tito compares the probes' values with the reference's, computed in a run of its own.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import json
import linecache
import signal
import sys
import threading
import traceback
import types


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


class Kept(io.TextIOBase):
    """Printed text, of which only the first and last `keep` characters are kept (an endless print
    costs no memory)."""

    def __init__(self, keep: int = 1000) -> None:
        self.keep, self.head, self.tail, self.total = keep, "", "", 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        written = len(text)
        self.total += written
        if len(self.head) < self.keep:
            room = self.keep - len(self.head)
            self.head, text = self.head + text[:room], text[room:]
        if text:
            self.tail = (self.tail + text[-self.keep:])[-self.keep:]
        return written

    def getvalue(self) -> str:
        cut = self.total - len(self.head) - len(self.tail)
        return self.head + (f"\n[... {cut:,} characters cut ...]\n" if cut > 0 else "") + self.tail


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


MAX_VALUES = 1_000_000  # numbers one probe may return
NUMBER_KINDS = "biuf"  # NumPy dtype kinds a probe may return: bool, signed, unsigned, float


def encode(value: object) -> object:
    """A probe's value as JSON: a number, bool, string or None as it is; anything else as an array
    {"dtype", "shape", "data"}."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    import numpy as np

    array = np.asarray(value)
    if array.dtype.kind not in NUMBER_KINDS:
        raise TypeError(f"a probe value must be numbers, got an array of dtype {array.dtype}")
    if array.size > MAX_VALUES:
        raise ValueError(f"a probe value may hold at most {MAX_VALUES:,} numbers, got {array.size:,}")
    return {"dtype": array.dtype.str, "shape": list(array.shape), "data": array.ravel().tolist()}


def run_probes(spec: dict, namespace: dict, out, timeout: float) -> None:  # noqa: ANN001 - a text file
    import importlib.util

    import numpy as np

    loaded = importlib.util.spec_from_file_location("_tito_probes", spec["file"])
    probes = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(probes)
    seed = int(spec["seed"])
    for number, (grade_id, name) in enumerate(spec["run"]):
        result: dict = {"probe": name, "grade_id": grade_id, "ok": True}
        buffer = Kept()
        np.random.seed((seed + number) % 2**32)  # code that draws from NumPy's global generator
        try:
            with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer), time_limit(timeout):
                values = getattr(probes, name)(namespace, np.random.default_rng([seed, number]))
                result["values"] = {str(k): encode(v) for k, v in dict(values).items()}
        except BaseException as exc:  # noqa: B036 - a probe that fails is a failed check, not a crash
            result.update(ok=False, **describe(exc, spec["file"]))
            result.pop("traceback", None)
        out.write(json.dumps(result) + "\n")
        out.flush()


def remember_source(files: dict[str, list[str]], source: str, filename: str) -> None:
    """Let `inspect.getsource` and tracebacks read the cell: the graded file is not in the jail.
    Cells of a .py share its name, each padded to its own lines, so they are laid over each other."""
    lines = files.setdefault(filename, [])
    for number, line in enumerate(source.splitlines(keepends=True)):
        if number >= len(lines):
            lines.append(line)
        elif line.strip():
            lines[number] = line
    linecache.cache[filename] = (sum(map(len, lines)), None, lines, filename)


def main(argv: list[str]) -> int:
    cells_path = argv[0]
    timeout = float(argv[argv.index("--timeout") + 1]) if "--timeout" in argv else 0.0
    fd = int(argv[argv.index("--results-fd") + 1])
    with open(cells_path, encoding="utf-8") as f:
        job = json.load(f)
    # A probe run defines the module as an import would (its demos under `if __name__ ==
    # "__main__":` do not run); a grading run runs every cell as a notebook kernel would.
    # The namespace is a registered module's, as in a kernel: dataclasses and typing look classes'
    # modules up in sys.modules.
    name = str(job.get("module_name") or "__main__")
    module = types.ModuleType(name)
    sys.modules[name] = module
    namespace = module.__dict__
    namespace.update(__builtins__=builtins, __doc__=None)
    sys.argv = [job.get("filename", "notebook")]
    files: dict[str, list[str]] = {}
    with open(fd, "a", encoding="utf-8", closefd=False) as out:
        for index, cell in enumerate(job["cells"]):
            remember_source(files, cell["source"], cell["filename"])
            result: dict = {"index": index, "ok": True}
            buffer = Kept()
            namespace["__name__"] = name  # graded cells run their tests under `if __name__ == "__main__":`
            try:
                with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer), \
                        time_limit(timeout):
                    code = compile(cell["source"], cell["filename"], "exec")
                    exec(code, namespace)
            except BaseException as exc:  # noqa: B036 - SystemExit, a timeout: the cell failed
                result.update(ok=False, **describe(exc, cell["filename"]))
            result["output"] = buffer.getvalue()
            out.write(json.dumps(result) + "\n")
            out.flush()
        if job.get("probes"):
            run_probes(job["probes"], namespace, out, timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
