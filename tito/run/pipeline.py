"""The steps behind `tito module complete` and `tito module test`; they return a Result the CLI renders.

complete = validate metadata -> run the file's own tests -> stage the export -> run tests/NN_slug
against the staged package -> replace the package file (atomically) -> record.
Any failing step, Ctrl-C, a closed pipe or a crash stops the pipeline before the replacement:
the package keeps its previous file and nothing is recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from tito.course import exporter, locks, notebook, validate
from tito.course.edition import is_student_edition
from tito.course.sources import read_source
from tito.registry import Module, available, get_module
from tito.run import isolate, milestones, runner, staging
from tito.run.runner import Report
from tito.state.progress import Progress

LOCK_HINTS = {
    "student": "A test cell was changed: `tito module reset {n}` restores the released file "
               "(your version is backed up first).",
    "reference": "After changing a test cell on purpose, run `tito release lock` (and commit "
                 "modules/locked_cells.json).",
}


@dataclass
class Step:
    """One step's verdict: `summary` after its name; `details` lines below it (problems, hints)."""

    name: str  # "Metadata", "Inline tests", "Package tests (tests/01_tensor)"
    ok: bool
    summary: str = ""
    details: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    report: Report | None = None


@dataclass
class Result:
    """What `complete` or `test` did: the steps, and what became of the package file and the record."""

    module: Module
    action: str  # "complete" or "test"
    steps: list[Step] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    had_previous: bool = False  # the package file existed before
    exported: bool = False  # the tested export replaced the package file
    recorded: bool = False  # completion written to .tito/progress.json
    interrupted: bool = False  # Ctrl-C (or SIGTERM) stopped it
    completed_before: str | None = None  # the date of an earlier completion, which a failure keeps
    notes: list[str] = field(default_factory=list)  # after success: checkpoint, unlocks, next step

    @property
    def ok(self) -> bool:
        steps_ok = bool(self.steps) and all(s.ok for s in self.steps)
        return steps_ok and not self.interrupted and (self.action == "test" or self.recorded)

    @property
    def package_note(self) -> str:
        """What became of tinytorch/<slug>.py (for `complete`)."""
        target = self.module.export_target.as_posix()
        if self.exported:
            return f"{target} holds the new, tested export."
        if self.had_previous:
            return f"{target} unchanged: the previous tested version is kept."
        return f"{target} was not created."


Working = Callable[[str], AbstractContextManager]
Listener = Callable[["Step | str"], None]  # told of each finished step (or a warning) as it happens


def _ignore(item: Step | str) -> None:
    pass


def _quiet(message: str) -> AbstractContextManager:
    return nullcontext()


def check_metadata(root: Path, module: Module, text: str | None = None) -> Step:
    """Step a: NBGrader metadata, markers, locked cells, default_exp (of `text`, the file as read)."""
    step = Step("Metadata", ok=True, summary="valid")
    text = read_source(root / module.source, root) if text is None else text
    released = locks.required(root, module)
    problems = validate.check(notebook.parse_text(text)[1], module.slug, released=released, source=text,
                              require_markers=not is_student_edition(root),
                              student_edition=is_student_edition(root))
    if released is None:
        step.warnings.append(f"{locks.LOCK_FILE} has no checksums for {module.name}; locked cells not "
                             "checked (course authors: run `tito release lock`).")
    if not problems:
        return step
    step.ok, step.summary = False, f"{len(problems)} problem(s) in {module.source.as_posix()}"
    step.details = [str(problem) for problem in problems]
    if any("locked cell" in p.message for p in problems):
        edition = "student" if is_student_edition(root) else "reference"
        step.details.append(LOCK_HINTS[edition].format(n=module.number))
    return step


# Why PyTorch comparisons skip, said plainly: the claims "equals PyTorch" were not checked in this run.
NO_TORCH = ("PyTorch is not installed, so the comparisons with PyTorch did not run; `make oracle` "
            "installs its CPU build where the wheel lies on disk, elsewhere `pip install torch==2.13.0 "
            "--index-url https://download.pytorch.org/whl/cpu`")


def _skip_reason(message: str) -> str:
    return NO_TORCH if message.startswith("could not import 'torch'") else message


def counts(report: Report, points: bool = False) -> str:
    text = f"{len(report.passed)} passed, {len(report.failed)} failed"
    if report.skipped:
        reasons = sorted({_skip_reason(o.message) for o in report.skipped if o.message})
        text += f", {len(report.skipped)} skipped" + (f" ({'; '.join(reasons)})" if reasons else "")
    if points:
        earned = sum(o.points for o in report.passed)
        text += f" ({earned:g}/{sum(o.points for o in report.outcomes):g} points)"
    return text


def run_inline(root: Path, module: Module, limit: float, working: Working = _quiet) -> Step:
    """Step b: import the student's file and run its test_unit_* functions and test_module."""
    with working(f"Running the tests inside {module.source.name}"):
        report = runner.run_inline(root, root / module.source, limit)
    if not report.outcomes and not report.crash:
        report.crash = "no test_unit_* or test_module functions found"
    return Step("Inline tests", report.ok, counts(report, points=True), report=report)


def run_suite(root: Path, module: Module, limit: float, working: Working = _quiet,
              staged: staging.Stage | None = None) -> Step:
    """Step d: tests/NN_slug against the package (or the staged one). A missing suite fails."""
    name = f"Package tests ({module.tests.as_posix()})"
    if not (root / module.tests).is_dir():
        return Step(name, False, f"{module.tests.as_posix()}/ is missing, so nothing can prove this "
                                 "module works. Restore it from your course repository "
                                 "(e.g. `git checkout -- tests`).")
    which = "a staged export of the file (tinytorch/ is not touched)" if staged else "the package"
    with working(f"Running {module.tests.as_posix()}/ against {which}"):
        report = runner.run_pytest(root, module.tests, limit, staged.folder if staged else None)
    return Step(name, report.ok, counts(report), report=report)


def prerequisite_warnings(progress: Progress, module: Module) -> list[str]:
    missing = [n for n in module.prerequisites if not progress.completed(n)]
    if not missing:
        return []
    return [f"prerequisites not completed yet: {', '.join(f'{n} {get_module(n).title}' for n in missing)}."]


def unlock_notes(progress: Progress, module: Module) -> list[str]:
    notes = [f"Checkpoint achieved: {module.capability}"]
    for milestone in module.unlocks:
        missing = milestones.not_completed(progress, milestone)
        if missing:
            notes.append(f"Milestone {milestone.id} ({milestone.year} {milestone.title}) also needs "
                         f"module(s) {', '.join(missing)}.")
        else:
            notes.append(f"Milestone unlocked: {milestone.id} ({milestone.year} {milestone.title}): "
                         f"run `tito milestone run {milestone.id}`")
    later = [m for m in available(progress.root)
             if m.number > module.number and not progress.completed(m.number)]
    if later:
        notes.append(f"Next: `tito module start {later[0].number}` ({later[0].title})")
    return notes


def _passes(result: Result, step: Step, listener: Listener) -> bool:
    result.steps.append(step)
    listener(step)
    return step.ok


def complete(root: Path, module: Module, limit: float, working: Working = _quiet,
             listener: Listener = _ignore) -> Result:
    """Validate, test, export, test the package; record completion only if everything passed.

    `limit`: seconds per test; `working(message)` wraps each long step (a progress line);
    `listener` hears each warning and finished step as it happens (the Result holds them too).
    """
    isolate.require_own_tinytorch(root)
    result = Result(module, "complete")
    progress = Progress.load(root)
    result.warnings = prerequisite_warnings(progress, module)
    result.completed_before = progress.completed(module.number)
    for warning in result.warnings:
        listener(warning)
    target = module.export_target
    result.had_previous = (root / target).exists()
    try:
        text = read_source(root / module.source, root)  # what is validated, tested and exported
        if not (_passes(result, check_metadata(root, module, text), listener)
                and _passes(result, run_inline(root, module, limit, working), listener)):
            return result
        with staging.staged(root, target, exporter.generate(root, module, text)) as stage:
            if not _passes(result, run_suite(root, module, limit, working, stage), listener):
                return result
            if read_source(root / module.source, root) != text:  # an editor saved it meanwhile
                changed = f"{module.source.as_posix()} changed while it was tested: run this again"
                _passes(result, Step("Unchanged source", False, changed), listener)
                return result
            staging.promote(stage, root, target)
            result.exported = True
        progress = Progress.load(root)  # read again: the tests may have run for minutes
        progress.mark_completed(module.number)
        progress.save()
        result.recorded = True
        result.notes = unlock_notes(progress, module)
    except KeyboardInterrupt:
        result.interrupted = True
    return result


def test(root: Path, module: Module, limit: float, working: Working = _quiet,
         listener: Listener = _ignore) -> Result:
    """Validate and test the module file as it is now, its export staged; change and record nothing.

    The package suite runs against a staged export of the current file (as `complete` does),
    never against an older export in tinytorch/: a test must judge the code being edited.
    """
    isolate.require_own_tinytorch(root)
    result = Result(module, "test")
    result.had_previous = (root / module.export_target).exists()
    try:
        text = read_source(root / module.source, root)  # what is validated and exported
        if not (_passes(result, check_metadata(root, module, text), listener)
                and _passes(result, run_inline(root, module, limit, working), listener)):
            return result
        with staging.staged(root, module.export_target, exporter.generate(root, module, text)) as stage:
            _passes(result, run_suite(root, module, limit, working, stage), listener)
    except KeyboardInterrupt:
        result.interrupted = True
    return result
