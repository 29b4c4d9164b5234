"""Mutation check: do a module's graded tests catch small bugs in its reference solution?

Each mutant changes one thing inside one `### BEGIN/END SOLUTION` region (an operator flipped, a
constant or axis changed, a transpose dropped, max/min swapped), then the module's own inline
tests run against the mutated file in a subprocess. A mutant that no test notices "survives":
it points at a test that should be stronger.

With `package=True`, every mutant the inline tests catch is also exported (staged, the package
untouched) and run against the module's pytest suite, tests/NN_slug: a bug the file's own tests
catch must fail the package suite too, which grades the exported package.
"""

from __future__ import annotations

import ast
import json
import os
import queue
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tito.course import exporter
from tito.course.solutions import solution_lines
from tito.course.sources import read_source
from tito.errors import TitoError
from tito.registry import Module
from tito.run import runner, staging, watch
from tito.run.lines_run import EVERY_LINE
from tito.run.runner import Report as RunReport

_SWAP_OPS = {ast.Add: ("+", "-"), ast.Sub: ("-", "+"), ast.Mult: ("*", "/"), ast.Div: ("/", "*"),
             ast.Pow: ("**", "*"), ast.MatMult: ("@", "*")}
_SWAP_CMP = {ast.Lt: ("<", ">"), ast.Gt: (">", "<"), ast.LtE: ("<=", "<"), ast.GtE: (">=", ">"),
             ast.Eq: ("==", "!="), ast.NotEq: ("!=", "==")}
_SWAP_NAMES = {"max": "min", "min": "max", "maximum": "minimum", "minimum": "maximum",
               "sum": "mean", "mean": "sum", "exp": "log", "log": "exp", "argmax": "argmin",
               "zeros": "ones", "ones": "zeros", "sqrt": "abs"}


@dataclass(frozen=True)
class Mutant:
    line: int  # 1-based line of the change
    description: str
    text: str  # the whole mutated file


def _offsets(text: str) -> list[int]:
    starts, total = [0], 0
    for line in text.splitlines(keepends=True):
        total += len(line)
        starts.append(total)
    return starts


def _edits(tree: ast.AST, text: str, lines: set[int]) -> Iterator[tuple[int, int, int, str, str]]:
    """Yield (line, start, end, replacement, description) character edits of the source."""
    starts = _offsets(text)

    def pos(line: int, col: int) -> int:
        return starts[line - 1] + col

    for node in ast.walk(tree):
        line = getattr(node, "lineno", None)
        if line not in lines:
            continue
        if isinstance(node, ast.BinOp) and type(node.op) in _SWAP_OPS:
            old, new = _SWAP_OPS[type(node.op)]
            lo, hi = pos(node.left.end_lineno, node.left.end_col_offset), pos(node.right.lineno,
                                                                               node.right.col_offset)
            gap = text[lo:hi]
            at = gap.find(old)
            if at >= 0 and (old != "*" or gap[at:at + 2] != "**"):
                yield line, lo + at, lo + at + len(old), new, f"'{old}' -> '{new}'"
            left, right = ast.get_source_segment(text, node.left), ast.get_source_segment(text, node.right)
            if type(node.op) in (ast.Sub, ast.Div, ast.MatMult) and left and right and left != right:
                a, b = pos(node.left.lineno, node.left.col_offset), pos(node.right.end_lineno,
                                                                        node.right.end_col_offset)
                yield line, a, b, f"{right}{gap}{left}", "operands swapped"
        elif isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _SWAP_CMP:
            old, new = _SWAP_CMP[type(node.ops[0])]
            lo = pos(node.left.end_lineno, node.left.end_col_offset)
            hi = pos(node.comparators[0].lineno, node.comparators[0].col_offset)
            at = text[lo:hi].find(old)
            if at >= 0:
                yield line, lo + at, lo + at + len(old), new, f"'{old}' -> '{new}'"
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            start = pos(node.lineno, node.col_offset)
            yield line, start, start + 1, "", "unary '-' dropped"
        elif isinstance(node, ast.Constant) and type(node.value) in (int, float) and node.end_lineno == line:
            value = node.value
            new = {0: 1, 1: 0}.get(value, value + 1) if isinstance(value, int) else value * 2 or 1.0
            yield (line, pos(line, node.col_offset), pos(line, node.end_col_offset), repr(new),
                   f"constant {value!r} -> {new!r}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
            yield (line, pos(line, node.col_offset), pos(line, node.end_col_offset), str(not node.value),
                   f"{node.value} -> {not node.value}")
        elif isinstance(node, ast.Attribute):
            end = pos(node.end_lineno, node.end_col_offset)
            if node.attr == "T":
                yield line, end - 2, end, "", "'.T' dropped"
            elif node.attr in _SWAP_NAMES:
                new = _SWAP_NAMES[node.attr]
                yield line, end - len(node.attr), end, new, f"'{node.attr}' -> '{new}'"
        elif isinstance(node, ast.keyword) and node.arg and node.end_lineno == line:
            start, end = pos(node.value.lineno, node.value.col_offset), pos(line, node.end_col_offset)
            if text[start:end] != "None":
                yield line, start, end, "None", f"keyword '{node.arg}' set to None"
        elif isinstance(node, ast.Tuple) and len(node.elts) == 2 and node.end_lineno == line:
            a, b = (ast.get_source_segment(text, e) for e in node.elts)
            if a and b and a != b:
                first, second = node.elts
                yield (line, pos(line, first.col_offset), pos(line, second.end_col_offset),
                       f"{b}, {a}", "tuple elements swapped")
        elif isinstance(node, ast.Return) and node.value is not None and isinstance(node.value, ast.BinOp):
            inner = node.value.left  # return the left operand alone: a whole term forgotten
            seg = ast.get_source_segment(text, inner)
            if seg:
                yield (line, pos(node.value.lineno, node.value.col_offset),
                       pos(node.value.end_lineno, node.value.end_col_offset), seg, "right-hand term dropped")


def mutants(text: str) -> list[Mutant]:
    """Every single-edit mutant of the solution regions that still compiles."""
    tree = ast.parse(text)
    found, seen = [], set()
    for line, start, end, new, description in sorted(_edits(tree, text, solution_lines(text))):
        mutated = text[:start] + new + text[end:]
        if mutated == text or mutated in seen:
            continue
        try:
            compile(mutated, "<mutant>", "exec")
        except SyntaxError:
            continue
        seen.add(mutated)
        found.append(Mutant(line, description, mutated))
    return found


# --- running ------------------------------------------------------------------------------------

# A mutant's import and each of its tests get this much CPU time: CPU_FACTOR times the most the
# reference took for any of them, at least CPU_FLOOR. A mutant that loops forever is stopped there
# (caught) after seconds, not after the wall-clock backstop. CPU time, unlike wall time, barely
# depends on what else the machine runs.
CPU_FACTOR, CPU_FLOOR = 10, 2.0
PER_TEST, OVERALL = 20.0, 120.0  # wall-clock backstops (a mutant that sleeps or blocks)
# Mutants run with one BLAS thread: the results do not depend on it, and the jobs fill the cores.
ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


class Runner:
    """Runs a module file's inline tests, mutated or not: in children forked from one prepared
    process (tito.run.mutant_server) where the OS can fork, else in a fresh interpreter each."""

    def __init__(self, root: Path, reference: str | None = None) -> None:
        """`reference`: the unmutated file; a mutant with as many lines shares its cell layout."""
        self.root, self.server, self.reference = root, None, None
        self._folder = tempfile.TemporaryDirectory(prefix="tito-mutants-")
        if reference is not None:
            self.reference = Path(self._folder.name) / "reference_dev.py"
            self.reference.write_text(reference, encoding="utf-8")
            self._lines = reference.count("\n")
        if hasattr(os, "fork"):
            self.server = subprocess.Popen(
                [sys.executable, "-m", "tito.run.mutant_server", str(root)], cwd=root,
                env={**runner.env(root), **ONE_THREAD}, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                text=True, **watch.own_group())

    def run(self, text: str, *, cpu_limit: float = 0, first_failure: bool = True,
            only: list[str] | None = None, record_lines: bool = False) -> RunReport:
        """`only`: run just these tests; `record_lines`: report the lines each test ran (RunReport.lines).
        Both need the prepared process; without it every test runs and no lines are recorded."""
        with tempfile.TemporaryDirectory(prefix="tito-mutant-") as tmp:
            path, out = Path(tmp) / "mutant_dev.py", Path(tmp) / "inline.json"
            path.write_text(text, encoding="utf-8")
            if self.server is None:
                return runner.run_inline(self.root, path, PER_TEST, overall=OVERALL, cpu_limit=cpu_limit,
                                         first_failure=first_failure)
            job = {"file": str(path), "out": str(out), "limit": PER_TEST, "cpu_limit": cpu_limit,
                   "first_failure": first_failure, "overall": OVERALL, "only": only,
                   "record_lines": record_lines}
            if self.reference is not None and text.count("\n") == self._lines:
                job["layout_of"] = str(self.reference)
            self.server.stdin.write(json.dumps(job) + "\n")
            self.server.stdin.flush()
            reply = self.server.stdout.readline()
            if not reply:
                raise TitoError("the mutant server stopped unexpectedly (tito.run.mutant_server)")
            stopped = json.loads(reply).get("stopped")
            if stopped or not out.exists():
                return RunReport(crash=stopped or "the test process stopped unexpectedly")
            return runner.inline_report(json.loads(out.read_text(encoding="utf-8")), path)

    def close(self) -> None:
        if self.server is not None:
            watch.kill_group(self.server)
            for stream in (self.server.stdin, self.server.stdout):
                stream.close()
        self._folder.cleanup()


class TestsReaching:
    """Which tests can notice a change of a line: those that ran its statement on the reference
    (tito.run.lines_run). A statement the import runs can change anything, so every test does."""

    def __init__(self, text: str, lines: dict | None) -> None:
        self.lines = lines
        self.spans = sorted(((node.lineno, node.end_lineno) for node in ast.walk(ast.parse(text))
                             if isinstance(node, ast.stmt)), key=lambda span: span[1] - span[0])

    def tests(self, line: int) -> list[str] | None:
        """The names of the tests to run for a change of `line`, or None for every test."""
        if self.lines is None:
            return None  # not recorded (no prepared process): run every test
        first, last = next(((a, b) for a, b in self.spans if a <= line <= b), (line, line))  # innermost
        statement = set(range(first, last + 1))

        def reaches(ran: list[int] | str) -> bool:
            return ran == EVERY_LINE or not statement.isdisjoint(ran)

        if reaches(self.lines.get("import", EVERY_LINE)):
            return None
        return [name for name, ran in self.lines["tests"].items() if reaches(ran)]


def cpu_budget(reference: RunReport) -> float:
    """CPU seconds for a mutant's import and for each of its tests (see CPU_FACTOR)."""
    most = max([reference.import_cpu_seconds, *(o.cpu_seconds for o in reference.outcomes)])
    return max(CPU_FLOOR, CPU_FACTOR * most)


@dataclass
class Report:
    total: int
    survivors: list[Mutant]
    package_misses: list[Mutant] | None = None  # caught inline, passed tests/NN_slug (package=True)

    @property
    def score(self) -> float:
        return 1.0 if self.total == 0 else 1 - len(self.survivors) / self.total


def check(source: Path, root: Path, jobs: int = 2, limit: int | None = None,
          package: Module | None = None) -> Report:
    """Mutate `source` and run its inline tests against every mutant, `jobs` at a time; with
    `package` (the module `source` belongs to), run its package suite against each caught mutant.

    The unmutated file runs first: it must pass (else every mutant would count as caught), and its
    CPU times set the mutants' budget."""
    text = read_source(Path(source))
    runners = queue.SimpleQueue()
    started = [Runner(root, reference=text) for _ in range(max(1, jobs))]
    for r in started:
        runners.put(r)

    def run(mutated: str, **kwargs) -> RunReport:
        r = runners.get()
        try:
            return r.run(mutated, **kwargs)
        finally:
            runners.put(r)

    try:
        reference = run(text, first_failure=False)
        if not reference.ok:
            failed = ", ".join(o.name for o in reference.failed) or reference.crash
            raise TitoError(f"{Path(source).name} fails its own tests ({failed}): a mutation check needs "
                            "a passing file")
        budget = cpu_budget(reference)
        reach = TestsReaching(text, run(text, first_failure=False, record_lines=True).lines)
        todo = mutants(text)[:limit]

        def is_caught(m: Mutant) -> bool:
            tests = reach.tests(m.line)
            if tests == []:
                return False  # no test runs the line: every test behaves as on the reference
            return not run(m.text, cpu_limit=budget, only=tests).ok

        with ThreadPoolExecutor(max_workers=len(started)) as pool:
            caught = list(pool.map(is_caught, todo))
    finally:
        for r in started:
            r.close()
    report = Report(total=len(todo), survivors=[m for m, hit in zip(todo, caught) if not hit])
    if package is not None:
        if not suite_passes(root, package, text):
            raise TitoError(f"{package.tests.as_posix()} fails on the reference: a package check needs a "
                            "passing suite")
        inline_caught = [m for m, hit in zip(todo, caught) if hit]
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            passed = list(pool.map(lambda m: suite_passes(root, package, m.text), inline_caught))
        report.package_misses = [m for m, ok in zip(inline_caught, passed) if ok]
    return report


def suite_passes(root: Path, module: Module, text: str) -> bool:
    """Does tests/NN_slug pass against `text` exported to a staged package (tinytorch/ untouched)?"""
    try:
        generated = exporter.generate(root, module, text)
    except TitoError:
        return False  # a mutant the exporter refuses never reaches the package
    with staging.staged(root, module.export_target, generated) as stage:
        return runner.run_pytest(root, module.tests, PER_TEST, stage.folder, first_failure=True).ok


if __name__ == "__main__":
    from tito.registry import find_root, get_module

    repo = find_root()
    for key in sys.argv[1:]:
        mod = get_module(key)
        report = check(repo / mod.source, repo)
        print(f"{mod.name}: {report.total - len(report.survivors)}/{report.total} mutants caught "
              f"({report.score:.0%})")
        for m in report.survivors:
            print(f"  survived: line {m.line}: {m.description}")
