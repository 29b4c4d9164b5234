"""The steps behind `tito module complete` and `tito module test`, each printing what it found.

complete = validate metadata -> run the file's own tests -> export -> run tests/NN_slug -> record.
Any failing step stops the pipeline; nothing is recorded and the package keeps its last good state.
"""

from __future__ import annotations

from pathlib import Path

from tito import console, exporter, isolate, locks, notebook, runner, validate
from tito.atomic import write_atomic
from tito.console import esc
from tito.edition import is_student_edition
from tito.registry import Module, available, get_module
from tito.runner import Report
from tito.sources import read_source
from tito.state import Progress

LOCK_HINTS = {
    "student": "A test cell was changed: `tito module reset {n}` restores the released file "
               "(your version is backed up first).",
    "reference": "After changing a test cell on purpose, run `tito release lock` (and commit "
                 "modules/locked_cells.json).",
}


def check_metadata(root: Path, module: Module) -> bool:
    """Step a: NBGrader metadata, markers, locked cells, default_exp."""
    text = read_source(root / module.source, root)
    released = locks.required(root, module)
    problems = validate.check(notebook.parse_text(text)[1], module.slug, released=released, source=text,
                              require_markers=not is_student_edition(root),
                              student_edition=is_student_edition(root))
    if released is None:
        console.warn(f"{locks.LOCK_FILE} has no checksums for {module.name}; locked cells not checked "
                     "(course authors: run `tito release lock`).")
    if not problems:
        console.ok("Metadata: valid")
        return True
    console.error(f"{len(problems)} problem(s) in {esc(module.source.as_posix())}:")
    for problem in problems:
        console.say(f"  {esc(str(problem))}")
    if any("locked cell" in p.message for p in problems):
        edition = "student" if is_student_edition(root) else "reference"
        console.say(LOCK_HINTS[edition].format(n=module.number))
    return False


def _show(report: Report, label: str) -> None:
    for outcome in report.failed:
        where = f" ({esc(outcome.where)})" if outcome.where else ""
        console.say(f"  [red]FAILED[/] {esc(outcome.name)}{where}")
        if outcome.message:
            console.say(f"         {esc(outcome.message.splitlines()[0][:500])}")
        for line in outcome.output.strip().splitlines()[-6:]:
            console.say(f"         | {esc(line)}")
    if report.crash:
        console.error(f"{label}: {esc(report.crash)}")
        return
    counts = f"{len(report.passed)} passed, {len(report.failed)} failed"
    if report.skipped:
        counts += f", {len(report.skipped)} skipped"
    if label == "Inline tests":
        earned = sum(o.points for o in report.passed)
        counts += f" ({earned:g}/{sum(o.points for o in report.outcomes):g} points)"
    if report.ok:
        console.ok(f"{label}: {counts}")
    else:
        console.error(f"{label}: {counts}")


def run_inline(root: Path, module: Module, timeout: float) -> bool:
    """Step b: import the student's file and run its test_unit_* functions and test_module."""
    with console.working(f"Running the tests inside {module.source.name}"):
        report = runner.run_inline(root, root / module.source, timeout)
    if not report.outcomes and not report.crash:
        report.crash = "no test_unit_* or test_module functions found"
    _show(report, "Inline tests")
    return report.ok


def run_suite(root: Path, module: Module, timeout: float) -> bool:
    """Step d: tests/NN_slug against the current package. A missing suite fails: nothing proves it."""
    if not (root / module.tests).is_dir():
        console.error(f"{module.tests.as_posix()}/ is missing, so nothing can prove this module works. "
                      "Restore it from your course repository (e.g. `git checkout -- tests`).")
        return False
    with console.working(f"Running {module.tests.as_posix()}/ against the package"):
        report = runner.run_pytest(root, module.tests, timeout)
    _show(report, f"Package tests ({module.tests.as_posix()})")
    return report.ok


def warn_prerequisites(progress: Progress, module: Module) -> None:
    missing = [n for n in module.prerequisites if not progress.completed(n)]
    if missing:
        names = ", ".join(f"{n} {get_module(n).title}" for n in missing)
        console.warn(f"prerequisites not completed yet: {esc(names)}.")


def announce_unlocks(progress: Progress, module: Module) -> None:
    console.say(f"Checkpoint achieved: [bold]{esc(module.capability)}[/]")
    for milestone in module.unlocks:
        missing = [n for n in milestone.requires if not progress.completed(n)]
        if missing:
            console.say(f"Milestone {milestone.id} ({milestone.year} {milestone.title}) also needs "
                        f"module(s) {', '.join(missing)}.")
        else:
            console.say(f"Milestone unlocked: {milestone.id} ({milestone.year} {milestone.title}): "
                        f"run `tito milestone run {milestone.id}`")
    later = [m for m in available(progress.root)
             if m.number > module.number and not progress.completed(m.number)]
    if later:
        console.say(f"Next: `tito module start {later[0].number}` ({esc(later[0].title)})")


def complete(root: Path, module: Module, timeout: float) -> bool:
    """Validate, test, export, test the package; record completion only if everything passed."""
    progress = Progress.load(root)
    isolate.require_own_tinytorch(root)
    console.heading(f"Module {module.number} {module.title}: complete")
    warn_prerequisites(progress, module)
    if not (check_metadata(root, module) and run_inline(root, module, timeout)):
        console.error("Not completed; nothing recorded. Fix the problems above and run this again.")
        return False
    target = root / module.export_target
    previous = target.read_text(encoding="utf-8") if target.exists() else None
    exporter.export(root, module)
    console.ok(f"Exported {module.source.as_posix()} -> {module.export_target.as_posix()}")
    if not run_suite(root, module, timeout):
        if previous is None:
            target.unlink()
            console.say(f"Removed {module.export_target.as_posix()} again: the package is as before.")
        else:
            write_atomic(target, previous)
            console.say(f"Restored the previous {module.export_target.as_posix()}: the package keeps "
                        "its last good state.")
        console.error("Not completed; nothing recorded. Fix the failing tests and run this again.")
        return False
    progress = Progress.load(root)  # read again: the tests may have run for minutes
    progress.mark_completed(module.number)
    progress.save()
    console.ok(f"Module {module.number} {module.title} completed.")
    announce_unlocks(progress, module)
    return True


def test(root: Path, module: Module, timeout: float) -> bool:
    """Validate and run the module's tests against the current package; record nothing."""
    isolate.require_own_tinytorch(root)
    console.heading(f"Module {module.number} {module.title}: test")
    if not (check_metadata(root, module) and run_inline(root, module, timeout)):
        return False
    if not (root / module.export_target).exists():
        console.warn(f"{module.export_target.as_posix()} does not exist yet: "
                     f"`tito module complete {module.number}` exports it.")
    return run_suite(root, module, timeout)
