"""Honest grading: a module file's graded cells, run against the reference of its prerequisites only.

A grade must measure the student's code. Four things could put someone else's code (or verdict) in
its place, and this module closes each:

- the instructor's `tinytorch/` holds the reference of the graded module itself (and
  `tinytorch/__init__.py` imports `autograd.py` when it exists, so reference backward rules would
  stand in for a student's broken cell): `grading_package` writes a package holding only the
  provided files and the **reference exports of the module's prerequisites** (transitively, per the
  registry), rebuilt from the module sources by tito.course.exporter, never module NN itself or a later one;
- the editable install's import hook maps any `tinytorch.<name>` missing from a package to the
  checkout's file, and the current folder or PYTHONPATH could hold a checkout: `jail_env` and
  `isolated_python_argv` start a Python without `site` (no `.pth` hook runs) whose import path is
  the grading package and the environment's site-packages, nothing else; and the jail
  (tito.grading.jail) shows it nothing else of the machine;
- a student could edit a graded (locked) cell: as nbgrader's autograde does, each locked cell is
  run as released (matched by grade_id), with its released points; a graded cell missing from the
  file scores 0;
- the student's code runs in the process that reports the results, so it could forge them: each
  graded cell also needs its probes (tito.grading.probes) to match the reference's values on inputs
  drawn at grading time, compared here.

`grade_file` then runs the file's code cells in order in one namespace, as a notebook kernel would
(a cell that raises is recorded and the next one runs), and gives each graded test cell its points
when it runs without an error and its probes match: nbgrader's autograde gives the same points
through tito.grading.nbgrader_execute.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tito.course import exporter, notebook
from tito.course.edition import is_student_edition, released_text
from tito.course.sources import read_source
from tito.errors import TitoError
from tito.grading import jail, probes
from tito.registry import MODULES, Module, get_module

RUNNER = Path(__file__).with_name("child.py")
RUNNER_NAME = "run_cells.py"
PROBES_NAME = "_tito_probes.py"
DEFAULT_CELL_TIMEOUT = 600.0  # seconds per cell: training tests are slow on a busy machine
_DATA_SUFFIXES = (".npz", ".npy", ".txt", ".json", ".csv")


# ------------------------------------------------------------------------------------------------
# The package: provided files + reference exports of the prerequisites
# ------------------------------------------------------------------------------------------------

def prerequisites(number: str) -> list[Module]:
    """Every module `number` builds on (transitively, per the registry), in course order."""
    target = get_module(number)
    seen: set[str] = set()
    todo = list(target.prerequisites)
    while todo:
        n = todo.pop()
        if n not in seen:
            seen.add(n)
            todo.extend(get_module(n).prerequisites)
    return [m for m in MODULES if m.number in seen]


def grading_package(repo: Path, number: str, dest: Path) -> Path:
    """Write `dest/tinytorch/`: the package files no module exports, plus the reference export of
    each prerequisite of module `number` (built from the module sources in `repo`, not copied from
    `repo/tinytorch/`); never module `number` nor any module it does not build on. The shipped data
    files (`repo/datasets/*.npz`, `*.txt`) go to `dest/datasets/`, where `tinytorch.datasets`
    looks for them. Returns `dest`."""
    repo, dest = Path(repo).resolve(), Path(dest).resolve()
    module = get_module(number)
    package = dest / "tinytorch"
    if package.exists():
        shutil.rmtree(package)
    package.mkdir(parents=True)
    provided = exporter.provided_files(repo)
    if Path("tinytorch/__init__.py") not in provided:
        raise TitoError(f"{repo / 'tinytorch' / '__init__.py'} is missing: it is the package's provided "
                        "start file.", "Restore it from the repository (git checkout tinytorch/__init__.py).")
    for rel in provided:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo / rel, target)
    for m in prerequisites(module.number):
        if not (repo / m.source).is_file():
            raise TitoError(f"Module {module.number} builds on module {m.number} ({m.title}), whose file "
                            f"{m.source.as_posix()} is missing, so it cannot be graded.",
                            f"Restore {m.source.as_posix()}.")
        (dest / m.export_target).write_text(exporter.generate(repo, m), encoding="utf-8")
    data = repo / "datasets"
    if data.is_dir():
        for f in sorted(data.iterdir()):
            if f.is_file() and f.suffix in _DATA_SUFFIXES:
                (dest / "datasets").mkdir(exist_ok=True)
                shutil.copy2(f, dest / "datasets" / f.name)
    return dest


# ------------------------------------------------------------------------------------------------
# The isolated Python
# ------------------------------------------------------------------------------------------------

def isolated_python_argv() -> list[str]:
    """The command that starts the grading Python on a script (append the script and its arguments):
    `-S` so that no `.pth` file of site-packages runs (an editable install's import hook lives in
    one), `-P` (3.11+) so that the script's folder does not join the import path (on 3.10 it does:
    tito's runner sits in the grading folder, which is on the path anyway). Use it with
    `jail_env(dest)`."""
    argv = [sys.executable, "-S"]
    if sys.version_info >= (3, 11):
        argv.append("-P")
    return argv


# ------------------------------------------------------------------------------------------------
# The report
# ------------------------------------------------------------------------------------------------

@dataclass
class CellGrade:
    grade_id: str
    points: float
    max_points: float
    passed: bool
    message: str = ""  # "AssertionError: ... (line 570)" for a failed cell
    line: int | None = None  # where the cell starts in the file (None: not in the file)
    probe_failures: list[str] = field(default_factory=list)  # also when the test failed first


@dataclass
class GradeReport:
    module: str  # "05"
    source: str  # the graded file
    cells: list[CellGrade] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # ungraded cells that raised (e.g. a broken export cell)
    crash: str | None = None  # the run itself stopped early (remaining cells scored 0)
    seconds: float = 0.0
    jailed: bool = True  # False: graded with --unsafe
    probes: str = ""  # what the probes did ("12 on inputs drawn at grading time ...: all matched")

    @property
    def total(self) -> float:
        return sum(c.points for c in self.cells)

    @property
    def max_total(self) -> float:
        return sum(c.max_points for c in self.cells)

    def to_dict(self) -> dict:
        return {"module": self.module, "source": self.source, "total": self.total,
                "max_total": self.max_total, "cells": [asdict(c) for c in self.cells],
                "errors": list(self.errors), "crash": self.crash, "seconds": round(self.seconds, 2),
                "jailed": self.jailed, "probes": self.probes}


# ------------------------------------------------------------------------------------------------
# Reading the student's file
# ------------------------------------------------------------------------------------------------

@dataclass
class _Cell:
    source: str  # padded with blank lines so that line numbers are the file's
    filename: str
    line: int | None
    meta: dict
    number: int | None = None  # the cell's position in a notebook (.ipynb), from 1

    @property
    def graded(self) -> bool:  # an autograded test cell, as nbgrader counts them
        return bool(self.meta.get("grade")) and not self.meta.get("solution")


def _meta(raw: object) -> dict:
    return raw if isinstance(raw, dict) else {}


def _cells_py(text: str, filename: str) -> list[_Cell]:
    lines = text.splitlines()
    return [_Cell("\n" * cell.line + "\n".join(cell.lines) + "\n", filename, cell.line, _meta(cell.nbgrader))
            for cell in notebook.parse_text(text)[1]
            if cell.kind == "code" and not lines[cell.line - 1][4:].strip().startswith("[raw]")]


def _without_magics(source: str) -> str:
    """IPython-only lines (`%matplotlib inline`, `!pip ...`) become `pass`: jupytext writes them as
    comments in the percent format, so the .py and the .ipynb of one file run the same code."""
    out = []
    for line in source.splitlines():
        body = line.lstrip()
        out.append(f"{line[:len(line) - len(body)]}pass  # {body}" if body.startswith(("%", "!")) else line)
    return "\n".join(out) + "\n"


def _cells_ipynb(path: Path) -> list[_Cell]:
    try:
        nb = json.loads(read_source(path))
        raw_cells = nb["cells"]
    except (ValueError, KeyError, TypeError) as exc:
        raise TitoError(f"{path} is not a notebook (.ipynb JSON with a 'cells' list): {exc}.") from exc
    cells = []
    for n, cell in enumerate(raw_cells, start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        meta = _meta(_meta(cell.get("metadata")).get("nbgrader"))
        cells.append(_Cell(_without_magics(source), f"{path} (cell {n})", None, meta, n))
    return cells


def _read_cells(path: Path) -> list[_Cell]:
    if path.suffix == ".ipynb":
        return _cells_ipynb(path)
    return _cells_py(read_source(path), str(path))


def _released_locked(repo: Path, module: Module) -> dict[str, notebook.Cell]:
    """grade_id -> the locked cell as released (the graded tests, which the student cannot change)."""
    cells = notebook.parse_text(released_text(repo, module))[1]
    return {c.grade_id: c for c in cells if c.is_locked and c.nbgrader}


def _graded_ids(cells: dict[str, notebook.Cell]) -> list[str]:
    return [gid for gid, c in cells.items() if c.nbgrader.get("grade") and not c.nbgrader.get("solution")]


def plan_cells(repo: Path, module: Module, source: Path) -> tuple[list[_Cell], list[str]]:
    """The cells to run (locked cells replaced by their released text, as nbgrader's autograde does)
    and the released graded ids that the file lacks."""
    released = _released_locked(repo, module)
    cells, seen = [], set()
    for cell in _read_cells(source):
        gid = cell.meta.get("grade_id")
        if gid in released and gid not in seen and (cell.meta.get("locked") or cell.graded):
            seen.add(gid)
            canon = released[gid]
            pad = "\n" * cell.line if cell.line is not None else ""
            cell = _Cell(pad + "\n".join(canon.lines) + "\n", cell.filename, cell.line, dict(canon.nbgrader),
                         cell.number)
        elif cell.graded or cell.meta.get("locked"):  # not a released graded cell: plain code
            cell = _Cell(cell.source, cell.filename, cell.line, {}, cell.number)
        cells.append(cell)
    missing = [gid for gid in _graded_ids(released) if gid not in seen]
    return cells, missing


def _check_module(module: Module, source: Path, cells: list[_Cell]) -> None:
    """Refuse a file that is another module's (its `#| default_exp` names another package file)."""
    for cell in cells:
        for line in cell.source.splitlines():
            if line.strip().startswith(notebook.DEFAULT_EXP):
                named = line.strip()[len(notebook.DEFAULT_EXP):].strip()
                if named != module.slug:
                    raise TitoError(f"{source} is not module {module.number} ({module.title}): its "
                                    f"`{notebook.DEFAULT_EXP} {named}` names tinytorch/{named}.py, not "
                                    f"tinytorch/{module.slug}.py.",
                                    "Pass the module number that matches the file.")
                return


# ------------------------------------------------------------------------------------------------
# Running
# ------------------------------------------------------------------------------------------------

def jail_env(dest: Path) -> dict[str, str]:
    """The whole environment of a graded run: nothing of the caller's (no HOME, no PYTHON* variable),
    import path = `dest` (holding `tinytorch/`) then this environment's site-packages."""
    dest = Path(dest).resolve()
    return {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(dest / "work"), "TMPDIR": "/tmp",
            "PYTHONPATH": os.pathsep.join([str(dest), *map(str, jail.site_packages())]),
            "PYTHONNOUSERSITE": "1", "PYTHONSAFEPATH": "1", "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONIOENCODING": "utf-8", "MPLBACKEND": "Agg", "MPLCONFIGDIR": "/tmp",
            "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@dataclass
class Run:
    """What one graded run reported (untrusted when it ran student code)."""

    cells: dict[int, dict]  # cell index -> its outcome
    probes: list[dict]  # the probes' entries, in the order they ran
    crash: str | None  # why the run stopped before the last cell, if it did
    ended: str | None = None  # how it ended, in short, when it did not end by itself after the last step


def run_cells(dest: Path, cells: list[_Cell], *, timeout: float = DEFAULT_CELL_TIMEOUT,
              overall: float | None = None, plan: probes.Plan | None = None, unsafe: bool = False) -> Run:
    """Run `cells` in order, then `plan`'s probes, in the jail (tito.grading.jail) against
    `dest/tinytorch/`, in a scratch folder `dest/work`. `unsafe`: without the jail (limits still hold)."""
    dest = Path(dest).resolve()
    (dest / "work").mkdir(exist_ok=True)
    shutil.copy2(RUNNER, dest / RUNNER_NAME)
    job = {"cells": [{"source": c.source, "filename": c.filename} for c in cells]}
    if plan is not None:  # the module's definitions, as an import would run them, then the probes
        shutil.copy2(plan.file, dest / PROBES_NAME)
        job["probes"] = plan.job(str(dest / PROBES_NAME))
        job["module_name"] = "__tito_probed__"
    (dest / "cells.json").write_text(json.dumps(job), encoding="utf-8")
    steps = max(len(cells), 1) + (len(plan.run) if plan else 0)
    budget = overall if overall is not None else timeout * steps + 60
    with tempfile.TemporaryFile() as results:
        fd = results.fileno()
        argv = [jail.python() if not unsafe else sys.executable, *isolated_python_argv()[1:],
                str(dest / RUNNER_NAME), str(dest / "cells.json"), "--results-fd", str(fd),
                "--timeout", f"{timeout:g}"]
        outcome = jail.run(argv, grading=dest, env=jail_env(dest), limits=jail.Limits(budget),
                           jailed=not unsafe, scratch=("work",), cwd=dest / "work", pass_fds=(fd,),
                           progress=lambda: os.fstat(fd).st_size, step=timeout)
        results.seek(0)
        lines = results.read().decode("utf-8", errors="replace").splitlines()
    run = Run({}, [], None)
    for line in lines:
        with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError):
            entry = json.loads(line)
            if "probe" in entry:
                run.probes.append(entry)
            elif isinstance(entry["index"], int):
                run.cells[entry["index"]] = entry
    ran = len(run.cells)
    if outcome.stopped or outcome.code:
        run.ended = f"stopped: {outcome.stopped}" if outcome.stopped else \
            f"the grading process ended (exit code {outcome.code})"
    if outcome.stopped:
        run.crash = f"stopped: {outcome.stopped}; {len(cells) - ran} of {len(cells)} cell(s) did not run"
        if ran == len(cells):
            run.crash = f"stopped: {outcome.stopped}"
    elif ran < len(cells):
        tail = "\n".join(outcome.output.strip().splitlines()[-5:])
        run.crash = (f"the grading process ended (exit code {outcome.code}) after {ran} of {len(cells)} cells"
                     + (f":\n{tail}" if tail else ""))
    return run


def definition_cells(cells: list[_Cell]) -> list[_Cell]:
    """What the probes run after: the file without its test cells and the locked cells around them,
    i.e. its export and solution cells and any cell the student added (no metadata)."""
    return [c for c in cells if not c.graded and (not c.meta or c.meta.get("solution") or any(
        line.strip() == notebook.EXPORT for line in c.source.splitlines()))]


def reference_cells(repo: Path, module: Module) -> list[_Cell]:
    return definition_cells(_cells_py(read_source(repo / module.source, repo), str(repo / module.source)))


def _where(result: dict, cell: _Cell) -> str:
    line = result.get("error_line")
    if not line or result.get("error_type") == "SyntaxError":
        return ""  # (a SyntaxError names its line itself)
    return f" (line {line})" if cell.number is None else f" (cell {cell.number}, line {line})"


_expected: dict[tuple, Run] = {}  # reference runs of this process, by what determines them


def reference_run(repo: Path, module: Module, dest: Path, plan: probes.Plan, timeout: float,
                   unsafe: bool) -> Run:
    """The reference's probe values for `plan` (computed once per process for the same sources and
    seed: grading many files with one seed, as tests and nbgrader's autograde do, runs it once)."""
    cells = reference_cells(repo, module)
    key = (module.number, plan.seed, unsafe, plan.file.read_bytes(), tuple(c.source for c in cells))
    if key not in _expected:
        _expected[key] = run_cells(dest, cells, timeout=timeout, plan=plan, unsafe=unsafe)
    return _expected[key]


def _cell_points(cell: _Cell, result: dict | None, failed: list[str], report: GradeReport) -> None:
    gid = cell.meta.get("grade_id", f"<cell at line {cell.line}>")
    worth = float(cell.meta.get("points", 0))
    if result is None:
        grade = CellGrade(gid, 0.0, worth, False, "did not run", cell.line)
    elif not result.get("ok"):
        why = str(result.get("error"))[:300] + _where(result, cell)
        grade = CellGrade(gid, 0.0, worth, False, why, cell.line)
    elif failed:
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        grade = CellGrade(gid, 0.0, worth, False, failed[0] + more, cell.line)
    else:
        grade = CellGrade(gid, worth, worth, True, "", cell.line)
    grade.probe_failures = list(failed)
    report.cells.append(grade)


def grade_file(repo: Path, number: str, source: Path, *, timeout: float = DEFAULT_CELL_TIMEOUT,
               overall: float | None = None, keep: Path | None = None, unsafe: bool = False,
               seed: int | None = None) -> GradeReport:
    """Run the student's module file (percent-format .py or .ipynb) in the jail, against
    `grading_package(repo, number, ...)`; return the points of each graded cell.

    A graded cell scores when its test cell ran without an error and, where the module has probes
    (tito.grading.probes), when each of its probes returned what the reference returns on the same
    inputs, drawn with `seed` (default: a new random one). In the student edition there is no
    reference, so no probes run (`report.probes` says so).

    `timeout`: seconds per cell (a cell that overruns fails, the next one runs, as in nbgrader);
    `overall`: seconds for the whole run (default: generous); `keep`: a folder to build the package
    in and leave behind (default: a temporary one); `unsafe`: run without the jail (refused
    otherwise when no jail can be made here)."""
    repo, source = Path(repo).resolve(), Path(source).resolve()
    module = get_module(number)
    if not source.is_file():
        what = "is a folder, not a module file" if source.is_dir() else "does not exist"
        raise TitoError(f"{source} {what}.",
                        f"Pass the module file, e.g. {module.source.as_posix()}.")
    jail.require(unsafe)
    cells, missing = plan_cells(repo, module, source)
    _check_module(module, source, cells)
    report = GradeReport(module.number, str(source), jailed=not unsafe)
    plan = None if is_student_edition(repo) else probes.plan(repo, module, seed)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tito-grade-") as tmp:
        dest = Path(keep).resolve() if keep else Path(tmp) / "grading"
        grading_package(repo, module.number, dest)
        failed: dict[str, list[str]] = {}
        if plan is not None:  # the reference first: nothing of the student's has run yet
            expected = reference_run(repo, module, dest, plan, timeout, unsafe)
            # a run of its own, so that a crash among the test cells cannot take the probes with it
            mine = run_cells(dest, definition_cells(cells), timeout=timeout, overall=overall, plan=plan,
                             unsafe=unsafe)
            failed = probes.verdicts(plan, mine.probes, expected.probes, mine.ended)
        run = run_cells(dest, cells, timeout=timeout, overall=overall, unsafe=unsafe)
    report.crash = run.crash
    report.seconds = time.perf_counter() - start
    if plan is None:
        report.probes = ("none: the student edition has no reference to compare with"
                         if is_student_edition(repo) else f"none: module {module.number} has no probe file")
    else:
        bad = sum(1 for reasons in failed.values() for _ in reasons)
        report.probes = (f"{len(plan.run)} on inputs drawn at grading time (seed {plan.seed}): "
                         + ("all matched the reference" if not bad else f"{bad} did not match the reference"))
    for index, cell in enumerate(cells):
        result = run.cells.get(index)
        if cell.graded:
            _cell_points(cell, result, failed.get(cell.meta.get("grade_id"), []), report)
        elif result is not None and not result.get("ok"):
            name = cell.meta.get("grade_id") or (f"cell at line {cell.line}" if cell.line
                                                 else f"cell {cell.number}")
            report.errors.append(f"{name}: {str(result.get('error'))[:300]}{_where(result, cell)}")
    released = _released_locked(repo, module)
    for gid in missing:
        worth = float(released[gid].nbgrader.get("points", 0))
        report.cells.append(CellGrade(gid, 0.0, worth, False, "missing from the file (a graded cell was "
                                                             "deleted, or its metadata changed)", None))
    return report
