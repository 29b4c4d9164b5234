"""`tito nbgrader ...`: run a TinyTorch course with the real NBGrader (instructor extra), graded honestly."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tito import console
from tito import nbgrader_course as course_
from tito.cli_base import new_app, root, written_module
from tito.console import esc
from tito.edition import is_student_edition
from tito.errors import TitoError
from tito.registry import Module, available

app = new_app("Instructor tools: run a course with NBGrader (needs `pip install -e '.[instructor]'`).")

Course = Annotated[Path | None, typer.Option(
    "--course", metavar="DIR", show_default=False,
    help="The course folder (default: the current folder if it holds nbgrader_config.py, "
         "else course/ in the repository).")]
One = Annotated[str, typer.Argument(metavar="NN", help="Module number (e.g. 05) or slug.",
                                    show_default=False)]


def _course(given: Path | None) -> Path:
    if given is not None:
        return given.resolve()
    if (Path.cwd() / "nbgrader_config.py").is_file():
        return Path.cwd().resolve()
    return root() / "course"


def _reference() -> Path:
    """The repository, if it is the reference one: assignments come from its module files and the
    grading package from its prerequisites' solutions, which a student edition does not hold."""
    base = root()
    if is_student_edition(base):
        raise TitoError(f"{base} is a student edition: its module files hold stubs, so generated "
                        "assignments would have no solutions and grading would take the stubs for the "
                        "prerequisites' code.",
                        "Run `tito nbgrader` from the instructor's clone of the TinyTorch repository.")
    return base


def _module(key: str) -> Module:
    return written_module(_reference(), key)


def _done(step: course_.Step, message: str) -> None:
    console.ok(f"{message} ({step.command}: {step.seconds:.1f} s)")
    for line in course_.warnings(step):
        console.warn(esc(line))


@app.command()
def init(
    directory: Annotated[Path | None, typer.Argument(
        metavar="[DIR]", show_default=False,
        help="Course folder (default: course/ in the repository).")] = None,
    course_id: Annotated[str, typer.Option("--course-id", help="nbgrader's course id.")] = "tinytorch",
    exchange: Annotated[Path | None, typer.Option(
        "--exchange", metavar="DIR", show_default=False,
        help="nbgrader's exchange folder (default: DIR/exchange; on JupyterHub a folder every user "
             "can write).")] = None,
    timeout: Annotated[int, typer.Option(
        "--timeout", min=10, metavar="SECONDS",
        help="Seconds each cell may run when autograding.")] = course_.DEFAULT_TIMEOUT,
    roster: Annotated[Path | None, typer.Option("--roster", metavar="CSV", show_default=False,
                                                help="Students to add: a CSV with an `id` column (and "
                                                     "first_name, last_name, email).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing nbgrader_config.py.")] = False,
) -> None:
    """Create a course folder with a working nbgrader_config.py (and import a roster)."""
    base = _reference()
    course_.nbgrader_bin()
    course = directory.resolve() if directory else base / "course"
    if roster is not None:
        course_.read_roster(roster)  # refuse a bad roster before writing anything
    config = course_.init(course, course_id=course_id, exchange=exchange, timeout=timeout, force=force)
    console.ok(f"Course {esc(course_id)} ready in {esc(str(course))} "
               f"(nbgrader {course_.nbgrader_version()}); edit {esc(config.name)} to change it.")
    if roster is not None:
        count, step = course_.import_roster(course, roster)
        _done(step, f"Imported {count} student(s) from {esc(str(roster))}")
    console.say("Next: `tito nbgrader generate NN` (or --all), then `tito nbgrader release NN`.")


@app.command()
def generate(
    numbers: Annotated[list[str] | None, typer.Argument(metavar="[NN]...", show_default=False,
                                                        help="Module numbers (e.g. 01 05).")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every written module.")] = False,
    course: Course = None,
) -> None:
    """Module file -> notebook (jupytext) -> `nbgrader generate_assignment` (student version in release/)."""
    base = _reference()
    if all_ == bool(numbers):
        raise TitoError("Give module numbers or --all.", "Example: `tito nbgrader generate 01 05`.")
    modules = available(base) if all_ else [written_module(base, n) for n in numbers]
    where = course_.require_course(_course(course))
    with console.working(f"Generating {len(modules)} assignment(s) with nbgrader"):
        steps = course_.generate(base, where, modules)
    for step in steps:
        _done(step, "Generated")
    console.say(f"Student versions in {esc(str(where / 'release'))}: "
                + ", ".join(course_.assignment(m) for m in modules))


@app.command()
def release(number: One, course: Course = None) -> None:
    """Release module NN's assignment to the exchange (students fetch it with `nbgrader fetch_assignment`)."""
    _done(course_.release(_course(course), _module(number)), f"Released {number}")


@app.command()
def collect(number: One, course: Course = None) -> None:
    """Collect the submissions of module NN from the exchange into submitted/."""
    _done(course_.collect(_course(course), _module(number)), f"Collected {number}")


@app.command("zip_collect")
def zip_collect(
    number: One,
    files: Annotated[list[Path] | None, typer.Argument(metavar="[FILE]...", show_default=False,
                                                       help="Downloaded .ipynb or .zip files, each named "
                                                            "`<student>_NN_slug.ipynb`.")] = None,
    course: Course = None,
) -> None:
    """Collect files downloaded from an LMS (in downloaded/NN_slug/archive/, or given) into submitted/."""
    _done(course_.zip_collect(_course(course), _module(number), files or []), f"Collected {number}")


@app.command()
def autograde(
    numbers: Annotated[list[str] | None, typer.Argument(metavar="[NN]...", show_default=False,
                                                        help="Module numbers (e.g. 01 05).")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every generated module with collected "
                                                     "submissions.")] = False,
    student: Annotated[str | None, typer.Option("--student", metavar="ID", show_default=False,
                                                help="Only this student's submission.")] = None,
    course: Course = None,
) -> None:
    """Autograde modules in an isolated kernel each, holding only the reference of their prerequisites."""
    where = course_.require_course(_course(course))
    if all_ == bool(numbers):
        raise TitoError("Give module numbers or --all.", "Example: `tito nbgrader autograde 01 05`.")
    modules = course_.collected_modules(_reference(), where) if all_ else [_module(n) for n in numbers]
    if not modules:
        raise TitoError(f"no module has collected submissions in {where}.",
                        "Run `tito nbgrader collect NN` (or zip_collect) first.")
    for module in modules:
        with console.working(f"Autograding {course_.assignment(module)} with nbgrader"):
            step = course_.autograde(_reference(), where, module, student)
        _done(step, f"Autograded {course_.assignment(module)}")
    names = {course_.assignment(m) for m in modules}
    rows = [r for r in course_.report_rows(where) if r["module"] in names
            and (student is None or r["student"] == student)]
    statuses = {(r["student"], r["module"]): r["status"] for r in rows if r["status"] != course_.GRADED}
    console.table(["student", "module", "points", "max", ""],
                  [[esc(s), esc(m), f"{p:g}", f"{mx:g}", statuses.get((s, m), "")]
                   for (s, m), (p, mx) in course_.totals(rows).items()])


@app.command()
def feedback(
    number: One,
    release_: Annotated[bool, typer.Option("--release", help="Also release it to the exchange.")] = False,
    course: Course = None,
) -> None:
    """Write each student's feedback (HTML in feedback/) for module NN."""
    where = _course(course)
    for step in course_.feedback(where, _module(number), release_=release_):
        _done(step, "Feedback written" if "generate" in step.command else "Feedback released")
    console.say(f"Feedback in {esc(str(where / 'feedback'))}")


@app.command()
def report(
    json_: Annotated[bool, typer.Option("--json", help="JSON (cells and totals) instead of CSV.")] = False,
    output: Annotated[Path | None, typer.Option("--output", "-o", metavar="FILE", show_default=False,
                                                help="Write to FILE instead of the screen.")] = None,
    course: Course = None,
) -> None:
    """Points per student, module and graded cell, from the gradebook (CSV, or --json); a student
    on the roster without a submission of a collected module gets 0 with status "missing"."""
    course_.nbgrader_bin()
    rows = course_.report_rows(_course(course))
    text = course_.render_json(rows) if json_ else course_.render_csv(rows)
    if output is None:
        typer.echo(text, nl=False)
        return
    from tito.atomic import write_atomic
    write_atomic(output, text)
    console.ok(f"Wrote {len(rows)} row(s) to {esc(str(output))}")
