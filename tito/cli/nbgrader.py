"""`tito nbgrader ...`: run a TinyTorch course with the real NBGrader (instructor extra), graded honestly."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from tito import console
from tito.cli.base import new_app, root, written_module
from tito.console import esc
from tito.course.edition import is_student_edition
from tito.errors import TitoError
from tito.grading import jail
from tito.grading import nbgrader_course as course_
from tito.registry import Module, available

app = new_app("Instructor tools: run a course with NBGrader (needs `pip install -e '.[instructor]'`).")

Course = Annotated[Path | None, typer.Option(
    "--course", metavar="DIR", show_default=False,
    help="The course folder (default: the nearest folder holding nbgrader_config.py, from the current "
         "one up, else course/ in the repository).")]
One = Annotated[str, typer.Argument(metavar="NN", help="Module number (e.g. 05) or slug.",
                                    show_default=False)]
Numbers = Annotated[list[str] | None, typer.Argument(metavar="[NN]...", show_default=False,
                                                     help="Module numbers (e.g. 01 05) or slugs.")]


def _course(given: Path | None) -> Path:
    """--course, else the nearest folder up from here holding nbgrader_config.py (as git finds its
    repository), else course/ in the repository; a TitoError when none is a course."""
    if given is not None:
        return course_.require_course(given.resolve())
    for folder in (Path.cwd(), *Path.cwd().parents):
        if (folder / "nbgrader_config.py").is_file():
            return folder.resolve()
    default = root() / "course"
    if (default / "nbgrader_config.py").is_file():
        return default
    raise TitoError(f"no course here: no nbgrader_config.py in {Path.cwd()} or the folders above it, nor "
                    f"in {default}.", "cd into your course folder or pass --course DIR; to create one: "
                                      "`tito nbgrader init DIR`.")


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


_NONE = {course_.generated_modules: ("is generated", "tito nbgrader generate NN"),
         course_.collected_modules: ("has collected submissions", "tito nbgrader collect NN"),
         course_.autograded_modules: ("is autograded", "tito nbgrader autograde NN")}


def _modules(numbers: list[str] | None, all_: bool, every: Callable[[Path, Path], list[Module]],
             course: Path | None, example: str) -> tuple[list[Module], Path]:
    """The modules named (checked before the course is looked for) or, with --all, `every(repo, course)`."""
    if all_ == bool(numbers):
        raise TitoError("Give module numbers or --all.", f"Example: `tito nbgrader {example} 01 05`.")
    modules = [] if all_ else [_module(n) for n in numbers]
    where = _course(course)
    if all_:
        modules = every(_reference(), where)
        if not modules:
            state, step = _NONE[every]
            raise TitoError(f"no module {state} in {where}.", f"Run `{step}` first.")
    return modules, where


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
        help="nbgrader's exchange folder, outside DIR (default: DIR-exchange beside it, writable by all; "
             "on JupyterHub e.g. /srv/nbgrader/exchange).")] = None,
    timeout: Annotated[int, typer.Option(
        "--timeout", min=10, metavar="SECONDS",
        help="Seconds each cell may run when autograding.")] = course_.DEFAULT_TIMEOUT,
    roster: Annotated[Path | None, typer.Option("--roster", metavar="CSV", show_default=False,
                                                help="Students to add: a CSV with an `id` column (and "
                                                     "first_name, last_name, email).")] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Rewrite an existing nbgrader_config.py from the options given (the others back "
                        "to their defaults); to add students use `tito nbgrader roster`.")] = False,
    shared_account: Annotated[bool, typer.Option(
        "--shared-account", help="Every student works under one OS account (e.g. a hub whose servers all "
                                 "run as jovyan): collect cannot check who submitted what.")] = False,
) -> None:
    """Create a course folder with a working nbgrader_config.py (and import a roster)."""
    base = _reference()
    course_.nbgrader_bin()
    course = directory.resolve() if directory else base / "course"
    if roster is not None:
        course_.read_roster(roster)  # refuse a bad roster before writing anything
    config = course_.init(course, course_id=course_id, exchange=exchange, timeout=timeout, force=force,
                          check_owner=not shared_account)
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
def release(numbers: Numbers = None,
            all_: Annotated[bool, typer.Option("--all", help="Every generated module.")] = False,
            course: Course = None) -> None:
    """Release assignments to the exchange (students fetch them with `nbgrader fetch_assignment`)."""
    modules, where = _modules(numbers, all_, course_.generated_modules, course, "release")
    for module in modules:
        _done(course_.release(where, module), f"Released {course_.assignment(module)}")


@app.command()
def collect(numbers: Numbers = None,
            all_: Annotated[bool, typer.Option("--all", help="Every generated module.")] = False,
            course: Course = None) -> None:
    """Collect the submissions from the exchange into submitted/ (the latest of each student)."""
    modules, where = _modules(numbers, all_, course_.generated_modules, course, "collect")
    for module in modules:
        step = course_.collect(where, module)
        _done(step, f"Collected {course_.assignment(module)}")
        for line in step.refused:
            console.warn(esc(line))


@app.command("zip_collect")
def zip_collect(
    number: One,
    files: Annotated[list[Path] | None, typer.Argument(metavar="[FILE]...", show_default=False,
                                                       help="Downloaded .ipynb or .zip files, each named "
                                                            "`<student>_NN_slug.ipynb`.")] = None,
    course: Course = None,
) -> None:
    """Collect files downloaded from an LMS (in downloaded/NN_slug/archive/, or given) into submitted/;
    every file is checked first (whose, which module, on the roster)."""
    module = _module(number)
    step = course_.zip_collect(_course(course), module, files or [])
    _done(step, f"Collected {course_.assignment(module)}")


@app.command()
def autograde(
    numbers: Numbers = None,
    all_: Annotated[bool, typer.Option("--all", help="Every generated module with collected "
                                                     "submissions.")] = False,
    student: Annotated[str | None, typer.Option("--student", metavar="ID", show_default=False,
                                                help="Only this student's submission.")] = None,
    unsafe: Annotated[bool, typer.Option(
        "--unsafe", help="Run submissions without the jail, with your own rights (where no jail can be "
                         "made; only for code you trust).")] = False,
    course: Course = None,
) -> None:
    """Autograde modules: each submission runs in a jail against the reference of the module's
    prerequisites only, and its probes are checked against the reference on inputs drawn now."""
    modules, where = _modules(numbers, all_, course_.collected_modules, course, "autograde")
    for module in modules:
        course_.check_autograde(where, module, student)  # every refusal before the first nbgrader run
    jail.require(unsafe)
    failed = []
    for module in modules:  # one module that nbgrader cannot grade does not stop the others
        try:
            with console.working(f"Autograding {course_.assignment(module)} with nbgrader"):
                step = course_.autograde(_reference(), where, module, student, unsafe=unsafe)
        except TitoError as exc:
            console.warn(esc(str(exc)))
            failed.append(course_.assignment(module))
            continue
        _done(step, f"Autograded {course_.assignment(module)}")
    names = {course_.assignment(m) for m in modules}
    rows = [r for r in course_.report_rows(where) if r["module"] in names
            and (student is None or r["student"] == student)]
    statuses = {(r["student"], r["module"]): r["status"] for r in rows if r["status"] != course_.GRADED}
    console.table(["student", "module", "points", "max", "status"],
                  [[esc(s), esc(m), f"{p:g}", f"{mx:g}", statuses.get((s, m), course_.GRADED)]
                   for (s, m), (p, mx) in course_.totals(rows).items()])
    if failed:
        raise TitoError(f"nbgrader could not autograde every submission of {', '.join(failed)} (above); "
                        "those it could not grade show as \"not graded\", never with earlier points.",
                        "Fix what nbgrader names and run autograde again for those modules.")


@app.command()
def feedback(
    numbers: Numbers = None,
    all_: Annotated[bool, typer.Option("--all", help="Every autograded module.")] = False,
    release_: Annotated[bool, typer.Option("--release", help="Also release it to the exchange.")] = False,
    course: Course = None,
) -> None:
    """Write each student's feedback (HTML in feedback/) for the modules."""
    modules, where = _modules(numbers, all_, course_.autograded_modules, course, "feedback")
    for module in modules:
        for step in course_.feedback(where, module, release_=release_):
            _done(step, "Feedback written" if "generate" in step.command else "Feedback released")
    console.say(f"Feedback in {esc(str(where / 'feedback'))}")


@app.command()
def roster(
    csv_file: Annotated[Path, typer.Argument(metavar="CSV", show_default=False,
                                             help="Students: a CSV with an `id` column (and first_name, "
                                                  "last_name, email).")],
    course: Course = None,
) -> None:
    """Add students to the course's gradebook (new ids are added, known ones updated)."""
    where = _course(course)
    course_.read_roster(csv_file)  # refuse a bad roster before nbgrader runs
    count, step = course_.import_roster(where, csv_file)
    _done(step, f"Imported {count} student(s) from {esc(str(csv_file))}")


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
    from tito.state.atomic import write_atomic
    write_atomic(output, text)
    console.ok(f"Wrote {len(rows)} row(s) to {esc(str(output))}")
