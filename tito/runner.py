"""Run tests in subprocesses against this checkout: a module's inline tests, and pytest suites."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from tito.registry import get_module


@dataclass
class Outcome:
    name: str
    passed: bool
    message: str = ""  # "AssertionError: expected ..." for a failure
    where: str = ""  # "line 42" (of the module file, or of the test file)
    points: float = 0
    output: str = ""  # what an inline test printed; a pytest failure's traceback
    skipped: bool = False


@dataclass
class Report:
    """What a test run found; `crash` is set when the run itself broke (import error, timeout)."""

    outcomes: list[Outcome] = field(default_factory=list)
    crash: str | None = None

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


def env(root: Path) -> dict[str, str]:
    """The environment for child processes: this checkout first on the import path."""
    result = dict(os.environ)
    result["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))
    result.setdefault("PYTHONIOENCODING", "utf-8")
    result["PYTHONDONTWRITEBYTECODE"] = "1"
    return result


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


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


def run_inline(root: Path, module_file: Path, timeout: float) -> Report:
    """Import the student's module file in a fresh interpreter and run its test functions."""
    with tempfile.TemporaryDirectory(prefix="tito-") as tmp:
        out = Path(tmp) / "inline.json"
        command = [sys.executable, "-m", "tito.inline_runner", str(module_file), "--out", str(out),
                   "--root", str(root)]
        try:
            proc = subprocess.run(command, cwd=root, env=env(root), capture_output=True, text=True,
                                  timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return Report(crash=f"the module's tests did not finish within {timeout:.0f} s "
                                "(an endless loop?); use --timeout to allow longer")
        if not out.exists():
            return Report(crash=f"the test runner stopped unexpectedly:\n{_tail(proc.stdout + proc.stderr)}")
        data = json.loads(out.read_text(encoding="utf-8"))
    if data["import_error"]:
        err = data["import_error"]
        at = f" (line {err['where']})" if err["where"] else ""
        return Report(crash=f"importing {module_file.name} failed{at}: {err['error_type']}: {err['error']}"
                            f"{_missing_module_hint(err['error'])}\n{err['output']}{err['traceback']}".rstrip())
    return Report(outcomes=[
        Outcome(name=t["name"], passed=t["passed"], points=t["points"] or 0, output=t["output"],
                message="" if t["passed"] else f"{t['error_type']}: {t['error']}".rstrip(": "),
                where=f"line {t.get('where') or t['line']}")
        for t in data["tests"]
    ])


def _case_name(case: ET.Element) -> str:
    parts = case.get("classname", "").split(".")
    owner = f"{parts[-1]}::" if parts and parts[-1][:1].isupper() else ""
    return f"{case.get('file') or '.'.join(parts)}::{owner}{case.get('name')}"


def _parse_junit(path: Path) -> list[Outcome]:
    outcomes = []
    for case in ET.parse(path).getroot().iter("testcase"):
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        skipped = case.find("skipped") is not None
        line = case.get("line")  # 0-based in JUnit XML
        where = f"line {int(line) + 1}" if line and line.isdigit() else ""
        message = "" if problem is None else (problem.get("message") or "").strip()
        outcomes.append(Outcome(_case_name(case), problem is None, message, where,
                                output=(problem.text or "") if problem is not None else "", skipped=skipped))
    return outcomes


def run_pytest(root: Path, target: Path, timeout: float) -> Report:
    """Run one pytest suite (a folder under tests/) in a subprocess; counts come from JUnit XML."""
    if importlib.util.find_spec("pytest") is None:
        return Report(crash="pytest is not installed, so the package tests cannot run: "
                            "install the test tools with `pip install -e '.[dev]'`")
    with tempfile.TemporaryDirectory(prefix="tito-") as tmp:
        xml = Path(tmp) / "junit.xml"
        command = [sys.executable, "-m", "pytest", str(target), "-q", "-p", "no:cacheprovider",
                   "-p", "tito.isolate", f"--junitxml={xml}", "-o", "junit_family=xunit1"]
        try:
            proc = subprocess.run(command, cwd=root, env=env(root), capture_output=True, text=True,
                                  timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return Report(crash=f"pytest did not finish within {timeout:.0f} s; "
                                "use --timeout to allow longer")
        outcomes = _parse_junit(xml) if xml.exists() else []
    if proc.returncode == 5:  # no tests collected
        return Report(crash=f"pytest found no tests in {target}")
    if proc.returncode not in (0, 1) or (proc.returncode == 1 and not any(not o.passed for o in outcomes)):
        return Report(outcomes, crash=f"pytest exited with code {proc.returncode}:\n"
                                      f"{_tail(proc.stdout + proc.stderr)}")
    return Report(outcomes)
