"""Run tests in subprocesses against this checkout: a module's inline tests, and pytest suites."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tito.registry import get_module
from tito.run import child
from tito.run.watch import TOO_MUCH_OUTPUT, Finished, run_watched


@dataclass
class Outcome:
    name: str
    passed: bool
    message: str = ""  # "AssertionError: expected ..." for a failure
    where: str = ""  # "line 42" (of the module file, or of the test file)
    points: float = 0
    output: str = ""  # what an inline test printed; a pytest failure's traceback
    skipped: bool = False
    statement: str = ""  # the failing statement's source, from the deepest frame in the test's file
    check: str = ""  # the function holding that statement, when not the test itself (test_module's checks)
    raised_in: str = ""  # "line 395, in __sub__: return ..." when the code the check called raised
    cpu_seconds: float = 0  # CPU time the test took (inline tests only)


@dataclass
class Report:
    """What a test run found; `crash` is set when the run itself broke (import error, timeout)."""

    outcomes: list[Outcome] = field(default_factory=list)
    crash: str | None = None
    import_cpu_seconds: float = 0  # CPU time importing the module file took (inline tests only)
    lines: dict | None = None  # lines of the module file the import and each test ran, when recorded

    @property
    def passed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.passed and not o.skipped]

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.passed]

    @property
    def skipped(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.skipped]

    @property
    def ok(self) -> bool:
        return self.crash is None and not self.failed


def env(root: Path, staged: Path | None = None, status: Path | None = None) -> dict[str, str]:
    """The environment for child processes: this checkout first on the import path.

    `staged`: a folder holding a staged `tinytorch/` that the child imports instead (tito.run.child);
    `status`: the file where the child reports the test it runs.
    """
    result = dict(os.environ)
    first = [str(staged)] if staged is not None else []
    result["PYTHONPATH"] = os.pathsep.join(filter(None, [*first, str(root), os.environ.get("PYTHONPATH")]))
    result.setdefault("PYTHONIOENCODING", "utf-8")
    result["PYTHONDONTWRITEBYTECODE"] = "1"
    result[child.PARENT_ENV] = str(os.getpid())
    result.pop(child.STAGED_ENV, None)
    result.pop(child.STATUS_ENV, None)
    if staged is not None:
        result[child.STAGED_ENV] = str(staged)
    if status is not None:
        result[child.STATUS_ENV] = str(status)
    return result


def _tail(text: str, lines: int = 25, width: int = 400) -> str:
    """The last `lines` lines, each cut to `width` characters."""
    return "\n".join(line if len(line) <= width else f"{line[:width]}... ({len(line) - width:,} more "
                     "characters)" for line in text.strip().splitlines()[-lines:])


def _missing_module_hint(message: str) -> str:
    """For "No module named 'tinytorch.tensor'": which module exports it."""
    found = re.search(r"No module named 'tinytorch\.(\w+)'", message)
    if not found:
        return ""
    try:
        module = get_module(found.group(1))
    except KeyError:
        return ""
    return (f"\n  tinytorch/{module.slug}.py is exported by module {module.number} ({module.title}): "
            f"complete it first with `tito module complete {module.number}`.")


def _inline_outcome(t: dict) -> Outcome:
    outcome = Outcome(name=t["name"], passed=t["passed"], points=t["points"] or 0, output=t["output"],
                      where=f"line {t.get('where') or t['line']}", skipped=t.get("skipped", False),
                      cpu_seconds=t.get("cpu_seconds", 0))
    if not t["passed"]:
        outcome.message = (t["error"] if t["error_type"] == "TestTimeout"
                           else _explain(f"{t['error_type']}: {t['error']}".rstrip(": "), 0))
        outcome.statement = t.get("statement") or ""
        outcome.raised_in = t.get("raised_in") or ""
        if t.get("function") not in (None, t["name"]):
            outcome.check = t["function"]
    return outcome


def run_inline(root: Path, module_file: Path, limit: float, overall: float | None = None, *,
               cpu_limit: float = 0, first_failure: bool = False) -> Report:
    """Import the student's module file in a fresh interpreter and run its test functions.

    `limit`: seconds for the import and for each test; `overall`: for everything (default: generous);
    `cpu_limit`: seconds of CPU time for the import and for each test (0: none); `first_failure`:
    stop at the first failing test.
    """
    with tempfile.TemporaryDirectory(prefix="tito-") as tmp:
        out, status = Path(tmp) / "inline.json", Path(tmp) / "status"
        command = [sys.executable, "-m", "tito.run.inline_runner", str(module_file), "--out", str(out),
                   "--root", str(root), "--limit", str(limit), "--cpu-limit", str(cpu_limit),
                   *(["--first-failure"] if first_failure else [])]
        run = run_watched(command, root, env(root, status=status), status, limit, overall)
        if run.stopped:
            return Report(crash=_stopped(run, "the test process was stopped"))
        if not out.exists():
            return Report(crash=f"the test runner stopped unexpectedly:\n{_tail(run.output)}")
        data = json.loads(out.read_text(encoding="utf-8"))
    return inline_report(data, module_file)


def inline_report(data: dict, module_file: Path) -> Report:
    """The Report of tito.run.inline_runner's JSON for `module_file`."""
    if data["import_error"]:
        err = data["import_error"]
        if err["error_type"] == "TestTimeout":
            stopped_at = f"\n  stopped at line {err['where']}: {err['statement']}" if err["where"] else ""
            return Report(crash=f"importing {module_file.name} {err['error']}{stopped_at}")
        at = f" (line {err['where']})" if err["where"] else ""
        return Report(crash=f"importing {module_file.name} failed{at}: {err['error_type']}: {err['error']}"
                            f"{_missing_module_hint(err['error'])}\n{err['output']}{err['traceback']}".rstrip())
    return Report(outcomes=[_inline_outcome(t) for t in data["tests"]],
                  import_cpu_seconds=data.get("import_cpu_seconds", 0), lines=data.get("lines"))


def _case_name(case: ET.Element) -> str:
    parts = case.get("classname", "").split(".")
    owner = f"{parts[-1]}::" if parts and parts[-1][:1].isupper() else ""
    return f"{case.get('file') or '.'.join(parts)}::{owner}{case.get('name')}"


# `--tb=short` entries: "tests/01_tensor/test_tensor.py:42: in test_add\n    statement"
_ENTRY = re.compile(r"^(?P<file>[^\n:]+\.py):(?P<line>\d+): in (?P<func>\S+)\n(?P<code>[^\n]*)", re.M)


@dataclass
class _Traceback:
    line: str = ""  # of the failing statement in the test's file
    function: str = ""  # holding that statement
    statement: str = ""
    below: str = ""  # the entries deeper than it (in the package): where the error arose
    message: str = ""  # the full `E` lines (pytest cuts the junit message attribute short)


def _read_traceback(text: str, test_file: str | None) -> _Traceback:
    """The deepest entry in the test's own file of a `--tb=short` traceback, and what lies below."""
    found, after = _Traceback(), 0
    for entry in _ENTRY.finditer(text):
        if test_file and Path(entry["file"]).as_posix().endswith(test_file):
            found = _Traceback(entry["line"], entry["func"], entry["code"].strip())
            after = entry.end()
    lines = text[after:].splitlines()
    found.below = "\n".join(line for line in lines if line.strip() and not line.startswith("E "))
    found.message = "\n".join(line[4:] if line.startswith("E   ") else line[2:]
                              for line in lines if line.startswith("E "))
    return found


def _explain(message: str, limit: float) -> str:
    """A failure message, with what tito knows about its cause (a time or file size limit)."""
    if "File too large" in message:  # EFBIG past tito.run.child.bound_file_sizes
        return (f"{message} (a test process may write at most {child.FILE_SIZE_LIMIT // 2**20} MB to one "
                "file: an endless print?)")
    if "Timeout" in message and "pytest-timeout" in message:
        return (f"did not finish within {limit:g} s (an endless loop?), so the tests after it were not run; "
                "`--timeout SECONDS` allows longer")
    return message


def _parse_junit(path: Path, limit: float, unstage: Callable[[str], str] = str) -> list[Outcome]:
    outcomes = []
    for case in ET.parse(path).getroot().iter("testcase"):
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        skip = case.find("skipped")
        line = case.get("line")  # 0-based in JUnit XML: the `def` line
        where = f"line {int(line) + 1}" if line and line.isdigit() else ""
        outcome = Outcome(_case_name(case), problem is None, where=where, skipped=skip is not None)
        if skip is not None:  # the reason the test gave, e.g. "PyTorch is not installed"
            outcome.message = _skip_reason(skip.get("message") or skip.text or "")
        if problem is not None:
            text = unstage(problem.text or "")
            tb = _read_traceback(text, case.get("file"))
            outcome.message = _explain(tb.message or unstage(problem.get("message") or "").strip(),
                                               limit)
            outcome.output = tb.below if tb.line else text
            outcome.statement = tb.statement
            if tb.line:
                outcome.where = f"line {tb.line}"
            if tb.function not in ("", "<module>", case.get("name")):
                outcome.check = tb.function
        outcomes.append(outcome)
    return outcomes


def _skip_reason(text: str) -> str:
    """pytest's "could not import 'torch': No module named 'torch'" or "reason" without location."""
    text = text.strip()
    if text.startswith("Skipped: "):
        text = text[len("Skipped: "):]
    return text.splitlines()[0] if text else "no reason given"


def _unstager(root: Path, staged: Path | None) -> Callable[[str], str]:
    """Show `.tito/staging/<id>/tinytorch/x.py` as `tinytorch/x.py`: the file the student knows."""
    if staged is None:
        return str
    prefixes = [f"{staged}{os.sep}", f"{staged.relative_to(root).as_posix()}/"]

    def unstage(text: str) -> str:
        for prefix in prefixes:
            text = text.replace(prefix, "")
        return text

    return unstage


def _stopped(run: Finished, what: str) -> str:
    """Why tito stopped a test process: too much output (with the end of it), or a limit of time."""
    if run.stopped == TOO_MUCH_OUTPUT:
        return f"{TOO_MUCH_OUTPUT}. The end of the output:\n{_tail(run.output)}"
    return f"{run.stopped} (an endless loop?); {what}. `--timeout SECONDS` allows longer"


def _has_pytest_timeout() -> bool:
    return importlib.util.find_spec("pytest_timeout") is not None


def run_pytest(root: Path, target: Path, limit: float, staged: Path | None = None,
               first_failure: bool = False) -> Report:
    """Run one pytest suite (a folder under tests/) in a subprocess; counts come from JUnit XML.

    `limit`: seconds per test; `staged`: a folder with a staged `tinytorch/` to test instead;
    `first_failure`: stop at the first failing test (`-x`).
    """
    if importlib.util.find_spec("pytest") is None:
        return Report(crash="pytest is not installed, so the package tests cannot run: "
                            "install the test tools with `pip install -e '.[dev]'`")
    with tempfile.TemporaryDirectory(prefix="tito-") as tmp:
        xml, status = Path(tmp) / "junit.xml", Path(tmp) / "status"
        command = [sys.executable, "-m", "pytest", str(target), "-q", "-p", "no:cacheprovider",
                   "-p", "tito.run.child", "-p", "tito.run.isolate", "--tb=short",
                   f"--junitxml={xml}", "-o", "junit_family=xunit1"]
        if _has_pytest_timeout() and limit > 0:
            command.append(f"--timeout={limit:g}")
        if first_failure:
            command.append("-x")
        run = run_watched(command, root, env(root, staged=staged, status=status), status, limit)
        outcomes = _parse_junit(xml, limit, _unstager(root, staged)) if xml.exists() else []
    if run.stopped:
        return Report(outcomes, crash=_stopped(run, "pytest was stopped"))
    if run.returncode == 5:  # no tests collected
        return Report(crash=f"pytest found no tests in {target}")
    if run.returncode not in (0, 1) or (run.returncode == 1 and not any(not o.passed for o in outcomes)):
        return Report(outcomes, crash=f"pytest exited with code {run.returncode}:\n{_tail(run.output)}")
    return Report(outcomes)
