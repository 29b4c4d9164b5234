"""An NBGrader course for TinyTorch: the real nbgrader (0.9.x), driven step by step, graded honestly.

Layout of a course folder (nbgrader's standard one, see docs/INSTRUCTORS.md):

    nbgrader_config.py                  written by `init`: course id, exchange, timeouts, zip_collect names
    source/NN_slug/NN_slug.ipynb        written by `generate` from modules/source (jupytext)
    release/NN_slug/NN_slug.ipynb       nbgrader's student version (solution regions replaced by stubs)
    submitted/STUDENT/NN_slug/...       from `collect` (exchange) or `zip_collect` (LMS downloads)
    autograded/, feedback/, gradebook.db

Each step runs one nbgrader process (its CLI from this environment's bin/, which is put first on PATH:
nbgrader shells out to `alembic` for the gradebook). Every nbgrader failure is reported in tito's words
with the log's last lines.

Honest grades: `autograde NN` has nbgrader run tito's grading in place of its kernel
(tito.grading.nbgrader_execute): each submission runs in the jail (tito.grading.jail) against the
package of module NN's prerequisites only (tito.grading.grader), so only the student's own cells
define module NN's code, nothing of the course, the gradebook or other students is reachable, and
every graded cell must also pass its probes (tito.grading.probes), compared outside the student's
process.
"""

from __future__ import annotations

import contextlib
import csv
import difflib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from tito.course import notebook, validate
from tito.errors import TitoError
from tito.registry import Module, available
from tito.state.atomic import write_atomic

NBGRADER_VERSION = "0.9"  # the series this wrapper is written and tested against (0.9.6)
INSTALL_HINT = "Install the instructor extra: `pip install -e '.[instructor]'` (nbgrader 0.9)."
DEFAULT_TIMEOUT = 600  # seconds per cell: training tests are slow on a busy machine
FLAGS = ("grade", "solution", "locked", "task")
# zip_collect: `<student id>_<NN_slug>.ipynb`, e.g. `alice_01_tensor.ipynb` (an LMS prefix path is allowed)
NAMED_REGEXP = r".*?(?P<student_id>[^/\\]+?)_(?P<file_id>\d\d_[a-z0-9_]+\.ipynb)$"
ROSTER_COLUMNS = ("id", "first_name", "last_name", "email")


def assignment(module: Module) -> str:
    """The nbgrader assignment (and notebook) name of a module: its folder name, e.g. `01_tensor`."""
    return module.name


# ------------------------------------------------------------------------------------------------
# Running nbgrader
# ------------------------------------------------------------------------------------------------

def nbgrader_bin() -> Path:
    """nbgrader's command in this environment; a TitoError saying how to install it otherwise."""
    try:
        import nbgrader  # noqa: F401 - only: is it installed here?
    except ImportError as exc:
        raise TitoError(f"nbgrader is not installed in this environment ({sys.prefix}).",
                        INSTALL_HINT) from exc
    found = Path(sys.executable).parent / ("nbgrader.exe" if os.name == "nt" else "nbgrader")
    if not found.is_file():
        raise TitoError(f"nbgrader is importable but its command {found} is missing.", INSTALL_HINT)
    return found


def nbgrader_version() -> str:
    import nbgrader
    return str(getattr(nbgrader, "__version__", "?"))


def course_env(course: Path) -> dict[str, str]:
    """Environment for nbgrader: this environment's bin/ first on PATH (alembic), no PYTHON* variable
    (nothing of the caller's import path reaches what nbgrader starts)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.setdefault("MPLBACKEND", "Agg")
    return env


@dataclass
class Step:
    command: str
    seconds: float
    log: str
    refused: list[str] = field(default_factory=list)  # collect: submissions not taken, and why


# nbgrader's messages that have a clearer explanation in tito's words
_EXPLAIN = [
    (re.compile(r"No end solution statement found|BEGIN SOLUTION"),
     "a solution region is not closed, or a cell mentions the marker words outside a marker line: "
     "`tito dev validate` (or `tito release lock`) names the line."),
    (re.compile(r"does not exist in the database"),
     "a notebook holds a graded or locked cell the gradebook does not know: regenerate the assignment "
     "(`tito nbgrader generate NN`) and collect again."),
    (re.compile(r"[Dd]uplicate grade_id|grade id .* is duplicated|Duplicate cell"),
     "two cells share a grade_id in the module source."),
    (re.compile(r"because there (are|is) submissions associated with it"),
     "students have submitted this assignment, and nbgrader will not add or remove its graded, "
     "solution or locked cells then; the release was left as it was. To change an assignment after "
     "submissions, see \"Changing an assignment after students submitted\" in docs/INSTRUCTORS.md."),
    (re.compile(r"No such kernel|NoSuchKernel"),
     "nbgrader looked for a kernel: run `tito nbgrader autograde NN` (it grades in tito's jail, not in a "
     "kernel) rather than nbgrader directly."),
    (re.compile(r"alembic: (command )?not found|No such file or directory: 'alembic'"),
     "nbgrader could not find `alembic`: run nbgrader through tito (it puts the environment's bin/ "
     "on PATH)."),
    (re.compile(r"exchange directory .* does not exist|Unwritable directory"),
     "the exchange folder is missing or not writable: see `c.Exchange.root` in nbgrader_config.py."),
    (re.compile(r"Regular expression .* did not match"),
     "a downloaded file's name does not say whose it is: name it `<student>_NN_slug.ipynb`, or set "
     "`c.FileNameCollectorPlugin.named_regexp` in nbgrader_config.py."),
]


def require_course(course: Path) -> Path:
    course = Path(course).resolve()
    if not (course / "nbgrader_config.py").is_file():
        raise TitoError(f"{course} is not a TinyTorch nbgrader course (no nbgrader_config.py).",
                        f"Create it with `tito nbgrader init {course}`, or pass --course.")
    return course


def run_nbgrader(course: Path, args: list[str], *, what: str, env: dict[str, str] | None = None) -> Step:
    """Run `nbgrader ARGS` in the course folder (with `env` added to its environment); a TitoError
    naming `what` failed and why otherwise."""
    course = require_course(course)
    argv = [str(nbgrader_bin()), *args]
    start = time.perf_counter()
    try:
        proc = subprocess.run(argv, cwd=course, env={**course_env(course), **(env or {})},
                              capture_output=True, text=True, stdin=subprocess.DEVNULL)
    except OSError as exc:
        raise TitoError(f"could not start nbgrader for {what}: {exc}", INSTALL_HINT) from exc
    seconds = time.perf_counter() - start
    keep_private(course)
    log = proc.stdout + proc.stderr
    if proc.returncode != 0 or re.search(r"\[\w+ \| (ERROR|CRITICAL)\]", log):
        tail = "\n  ".join(log.strip().splitlines()[-12:])
        why = next((text for pattern, text in _EXPLAIN if pattern.search(log)), None)
        raise TitoError(f"nbgrader could not {what} (exit code {proc.returncode})"
                        + (f": {why}" if why else ".") + f"\nnbgrader said:\n  {tail}",
                        f"Full command (run in {course}): {' '.join(args)}")
    return Step(" ".join(["nbgrader", *args[:2]]), seconds, log)


def warnings(step: Step) -> list[str]:
    """nbgrader's warnings of a step, each in one line with the indented lines that continue it
    (e.g. collect's "... claims to be submitted by X but is owned by Y; cheating attempt?")."""
    found: list[str] = []
    lines = step.log.splitlines()
    for n, line in enumerate(lines):
        if "| WARNING]" not in line:
            continue
        text = [line.strip()]
        for more in lines[n + 1:]:
            if not more[:1].isspace():
                break
            text += [more.strip()] if more.strip() else []
        found.append(" ".join(text))
    return found


# ------------------------------------------------------------------------------------------------
# init
# ------------------------------------------------------------------------------------------------

CONFIG = '''\
# nbgrader configuration of a TinyTorch course, written by `tito nbgrader init`.
# Edit freely; `tito nbgrader ...` runs nbgrader in this folder. Reference: docs/INSTRUCTORS.md.
c = get_config()  # noqa: F821

c.CourseDirectory.course_id = {course_id!r}
c.CourseDirectory.root = {root!r}

# The exchange: where `release` puts assignments and students' `nbgrader submit` leaves work; every
# student can write it, so it lies outside the course folder (which only the instructor can enter).
# One machine: a folder beside the course. JupyterHub: e.g. /srv/nbgrader/exchange.
c.Exchange.root = {exchange!r}

# Execution of submissions by `autograde`: seconds per cell (training tests are slow on a busy
# machine); a cell that overruns fails, the next one runs.
c.Execute.timeout = {timeout}
c.Execute.interrupt_on_timeout = True

# `collect` takes a submission only from the OS user it names (tito moves the others aside, into
# refused/). Set this to False where every student shares one OS account (e.g. a hub whose servers
# all run as `jovyan`): then nothing tells a student's submission from another's forgery.
c.ExchangeCollect.check_owner = {check_owner}

# `zip_collect` (files downloaded from an LMS into downloaded/NN_slug/archive/):
# a file `<student id>_<NN_slug>.ipynb` (possibly inside a zip) belongs to that student.
c.FileNameCollectorPlugin.named_regexp = {regexp!r}
'''


def init(course: Path, *, course_id: str = "tinytorch", exchange: Path | None = None,
         timeout: int = DEFAULT_TIMEOUT, force: bool = False, check_owner: bool = True) -> Path:
    """Write the course folder and its nbgrader_config.py; returns the config file."""
    course = Path(course).resolve()
    config = course / "nbgrader_config.py"
    if config.exists() and not force:
        raise TitoError(f"{config} exists already.",
                        "To add students: `tito nbgrader roster CSV`. To rewrite the configuration: --force "
                        "(with every setting you want: those not given go back to their defaults; the "
                        "gradebook and the submissions stay).")
    if not re.fullmatch(r"[A-Za-z0-9][\w.-]*", course_id):
        raise TitoError(f"course id {course_id!r} must be letters, digits, '.', '_' or '-'.")
    exchange = Path(exchange).resolve() if exchange else default_exchange(course)
    if exchange.is_relative_to(course):
        raise TitoError(f"the exchange {exchange} is inside the course folder {course}.",
                        "Students must write the exchange but never see the course (solutions, gradebook): "
                        "give an --exchange outside it, e.g. /srv/nbgrader/exchange.")
    course.mkdir(parents=True, exist_ok=True)
    course.chmod(0o700)  # solutions, the gradebook and submissions: the instructor's only
    for sub in ("source", "downloaded"):
        (course / sub).mkdir(exist_ok=True)
    if not exchange.exists():
        exchange.mkdir(parents=True)
        exchange.chmod(0o777)  # nbgrader's exchange must be writable by every student
    write_atomic(config, CONFIG.format(course_id=course_id, root=str(course), exchange=str(exchange),
                                       timeout=int(timeout), regexp=NAMED_REGEXP,
                                       check_owner=bool(check_owner)))
    write_atomic(course / ".gitignore", "gradebook.db\nsubmitted/\nautograded/\nfeedback/\ndownloaded/\n"
                                        f"{REFUSED}/\n.tito/\n")
    return config


def default_exchange(course: Path) -> Path:
    """The exchange `init` makes when none is given: a folder beside the course, never inside it."""
    return course.parent / f"{course.name}-exchange"


def keep_private(course: Path) -> None:
    """After each nbgrader step: the gradebook is the instructor's only (0600), and nothing nbgrader
    copied in from the world-writable exchange stays writable by others (collected folders arrive
    0777). Read bits stay: the course folder itself (0700) keeps others out, and nbgrader copies
    feedback files to the exchange with their mode, where students must read them."""
    gradebook = course / "gradebook.db"
    if gradebook.is_file() and not gradebook.is_symlink():
        gradebook.chmod(0o600)
    for name in ("submitted", "autograded", "feedback", "downloaded"):
        top = course / name
        if top.is_symlink() or not top.is_dir():
            continue
        for path in [top, *top.rglob("*")]:
            if not path.is_symlink():
                path.chmod(path.stat().st_mode & 0o7755)


def read_roster(path: Path) -> list[dict[str, str]]:
    """The students of a roster CSV (header `id` and optionally first_name, last_name, email)."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise TitoError(f"the roster {path} cannot be read ({exc}).", "Pass a UTF-8 CSV file.") from exc
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "id" not in reader.fieldnames:
        found = ", ".join(reader.fieldnames or [])
        raise TitoError(f"the roster {path} has no `id` column (found: {found}).",
                        "First line: id,first_name,last_name,email")
    rows, seen = [], set()
    for number, row in enumerate(reader, start=2):
        sid = (row.get("id") or "").strip()
        if not re.fullmatch(r"[A-Za-z0-9][\w.@-]*", sid):
            raise TitoError(f"{path} line {number}: student id {sid!r} must be letters, digits, '.', '_', "
                            "'@' or '-' (it names folders).")
        if sid in seen:
            raise TitoError(f"{path} line {number}: student id {sid!r} appears twice.")
        seen.add(sid)
        rows.append({k: (row.get(k) or "").strip() for k in ROSTER_COLUMNS if k in row} | {"id": sid})
    return rows


def import_roster(course: Path, path: Path) -> tuple[int, Step]:
    rows = read_roster(path)
    clean = Path(course).resolve() / ".tito" / "roster.csv"
    clean.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(ROSTER_COLUMNS), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(clean, buf.getvalue())
    return len(rows), run_nbgrader(course, ["db", "student", "import", str(clean)], what="import the roster")


# ------------------------------------------------------------------------------------------------
# generate
# ------------------------------------------------------------------------------------------------

def source_notebook(repo: Path, module: Module):  # -> nbformat.NotebookNode
    """Module file -> notebook (jupytext), ready for `nbgrader generate_assignment`.

    Cells whose nbgrader flags are all false (setup cells, helpers) lose their nbgrader metadata:
    nbgrader records no such cell in the gradebook, so autograde would warn that it "does not exist in
    the database". tito's validator does not need it either (a cell without metadata is a plain cell).
    """
    import jupytext

    path = Path(repo) / module.source
    problems = validate.check(notebook.parse(path), module.slug)
    if problems:
        raise TitoError(f"{module.source.as_posix()} has problems nbgrader would trip over:\n  "
                        + "\n  ".join(str(p) for p in problems), "Fix them, then generate again.")
    nb = jupytext.read(path, fmt="py:percent")
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader")
        if isinstance(meta, dict) and not any(meta.get(flag) for flag in FLAGS):
            del cell.metadata["nbgrader"]
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python",
                                 "name": "python3"}
    nb.metadata.pop("jupytext", None)
    return nb


def generate(repo: Path, course: Path, modules: list[Module], *, all_: bool = False) -> list[Step]:
    """Write source/NN_slug/NN_slug.ipynb for each module and run nbgrader generate_assignment:
    one process for all modules when they are every assignment of the course, else one per module.
    A module whose step fails keeps its source and release folders as they were."""
    course = require_course(course)
    names = [assignment(m) for m in modules]
    present = {p.name for p in (course / "source").iterdir() if p.is_dir()} | set(names)
    if len(names) > 1 and set(names) == present:
        with _unchanged_on_failure(course, names):
            for module in modules:
                _write_source(repo, course, module)
            return [run_nbgrader(course, ["generate_assignment", "--CourseDirectory.assignment_id=*",
                                          "--force", "--create"],
                                 what=f"generate assignments {', '.join(names)}")]
    steps = []
    for module, name in zip(modules, names):
        with _unchanged_on_failure(course, [name]):
            _write_source(repo, course, module)
            steps.append(run_nbgrader(course, ["generate_assignment", name, "--force", "--create"],
                                      what=f"generate assignment {name}"))
    return steps


def _write_source(repo: Path, course: Path, module: Module) -> None:
    import nbformat

    folder = course / "source" / assignment(module)
    folder.mkdir(parents=True, exist_ok=True)
    text = nbformat.writes(source_notebook(repo, module)) + "\n"
    write_atomic(folder / f"{assignment(module)}.ipynb", text)


@contextlib.contextmanager
def _unchanged_on_failure(course: Path, names: list[str]):  # -> Iterator[None]
    """nbgrader's `generate_assignment --force` deletes release/NAME before it checks anything (it
    refuses, for one, to change the graded cells of an assignment with submissions): keep a copy of
    source/NAME and release/NAME aside and put them back when the step fails, so that a failed
    generate changes nothing. A copy left by a generate that was killed is put back first."""
    kept = course / ".tito" / "generate-kept"
    saved = []
    for name in names:
        for part in ("source", "release"):
            live, copy = course / part / name, kept / part / name
            if copy.is_dir() and not live.is_dir():
                shutil.copytree(copy, live, symlinks=True)
            if live.is_dir():
                shutil.rmtree(copy, ignore_errors=True)
                shutil.copytree(live, copy, symlinks=True)
                saved.append((live, copy))
    try:
        yield
    except BaseException as failure:  # a failed step, Ctrl-C: put everything back, then go on failing
        for live, copy in saved:
            shutil.rmtree(live, ignore_errors=True)
            shutil.copytree(copy, live, symlinks=True)
        raise failure
    finally:
        for _, copy in saved:
            shutil.rmtree(copy, ignore_errors=True)


# ------------------------------------------------------------------------------------------------
# release, collect, zip_collect
# ------------------------------------------------------------------------------------------------

def _require_generated(course: Path, module: Module) -> None:
    course = require_course(course)
    if not (Path(course) / "release" / assignment(module)).is_dir():
        raise TitoError(f"assignment {assignment(module)} is not generated yet.",
                        f"Run `tito nbgrader generate {module.number}` first.")


def release(course: Path, module: Module) -> Step:
    _require_generated(course, module)
    return run_nbgrader(course, ["release_assignment", assignment(module), "--force"],
                        what=f"release {assignment(module)} to the exchange")


REFUSED = "refused"  # course folder: submissions whose files belong to someone other than they claim


def refuse_foreign(inbound: Path, name: str, refused: Path) -> list[str]:
    """Move out of the exchange's `inbound` every submission of assignment `name` whose files belong
    to an OS user other than the student it names (`nbgrader submit
    --CourseDirectory.student_id=bob` run by alice), into `refused`; one line per submission moved.
    nbgrader would only warn, and collect the newest submission under bob's name, hiding his own."""
    import pwd

    moved = []
    for entry in sorted(inbound.glob(f"*+{name}+*")):
        claimed = entry.name.split("+", 1)[0]
        try:
            owner = pwd.getpwuid(entry.lstat().st_uid).pw_name
        except KeyError:
            owner = f"user id {entry.lstat().st_uid}"
        if owner != claimed:
            refused.mkdir(mode=0o700, parents=True, exist_ok=True)
            shutil.move(str(entry), refused / entry.name)
            moved.append(f"{entry.name} claims to be {claimed}'s but belongs to {owner}: not collected "
                         f"(kept in {refused / entry.name})")
    return moved


def collect(course: Path, module: Module) -> Step:
    """nbgrader's collect, after moving aside the submissions that claim another student's name
    (unless the course sets `c.ExchangeCollect.check_owner = False`: one OS account for everyone)."""
    course = require_course(course)
    refused = []
    if course_setting(course, "ExchangeCollect", "check_owner", True):
        root = Path(str(course_setting(course, "Exchange", "root", "/srv/nbgrader/exchange")))
        course_id = str(course_setting(course, "CourseDirectory", "course_id", ""))
        inbound = root / course_id / "inbound"
        if course_id and inbound.is_dir():
            refused = refuse_foreign(inbound, assignment(module), course / REFUSED / assignment(module))
    step = run_nbgrader(course, ["collect", assignment(module), "--update"],
                        what=f"collect the submissions of {assignment(module)} from the exchange")
    step.refused = refused
    return step


def course_setting(course: Path, section: str, key: str, default: object) -> object:
    """A setting of the course's nbgrader_config.py (as nbgrader reads it), else `default`."""
    from traitlets.config.loader import PyFileConfigLoader

    try:
        config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    except Exception:  # noqa: BLE001 - a config nbgrader itself will complain about
        return default
    return config[section][key] if section in config and key in config[section] else default


def suggest(name: str, known: set[str] | list[str]) -> str:
    """' (did you mean X?)' for the known name closest to `name` (case first), else ''."""
    same_case = [k for k in known if k.casefold() == name.casefold()]
    close = same_case or difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _downloaded_notebooks(path: Path) -> list[str]:
    """The notebook names a downloaded file holds: itself, or the .ipynb entries of a zip."""
    if path.suffix.lower() != ".zip":
        return [path.name]
    try:
        with zipfile.ZipFile(path) as archive:
            return [n for n in archive.namelist() if n.endswith(".ipynb") and not n.startswith("__MACOSX")]
    except (zipfile.BadZipFile, OSError) as exc:
        raise TitoError(f"{path} is not a zip file that can be read ({exc}).",
                        "Download it again, or pass the notebooks themselves.") from exc


def check_downloads(course: Path, module: Module, paths: list[Path]) -> None:
    """Refuse, before anything is copied, downloaded files that nbgrader's zip_collect would file
    wrongly: a name that says no student, a notebook of another module, a student the gradebook does
    not know (when it knows any: a roster, or students already autograded)."""
    regexp = re.compile(str(course_setting(course, "FileNameCollectorPlugin", "named_regexp", NAMED_REGEXP)))
    roster = student_ids(course)
    want = f"{assignment(module)}.ipynb"
    problems = []
    for path in paths:
        for name in _downloaded_notebooks(path):
            where = name if name == path.name else f"{path.name}: {name}"
            match = regexp.match(name)
            found = match.groupdict() if match else {}
            student, file_id = found.get("student_id"), found.get("file_id", want)
            if not student:
                problems.append(f"{where}: says no student (name it `<student id>_{want}`)")
            elif Path(file_id).name != want:
                problems.append(f"{where}: is {file_id}, not {want} (a notebook of another module)")
            elif roster and student not in roster:
                problems.append(f"{where}: {student!r} is not a student of this course"
                                + suggest(student, roster))
    if problems:
        raise TitoError(f"{len(problems)} downloaded file(s) would be filed wrongly, so nothing was "
                        "collected:\n  " + "\n  ".join(problems),
                        f"Rename or remove them (files already in downloaded/{assignment(module)}/archive/ "
                        "count too); add a missing student with `tito nbgrader roster CSV`.")


def zip_collect(course: Path, module: Module, files: list[Path] = ()) -> Step:
    """Copy `files` (notebooks or zips downloaded from an LMS) to downloaded/NN_slug/archive/, then
    run nbgrader zip_collect, which files each under submitted/STUDENT/NN_slug/. Every file is
    checked first (`check_downloads`)."""
    course = require_course(course)
    archive = course / "downloaded" / assignment(module) / "archive"
    files = [Path(f) for f in files]
    for f in files:
        if not f.is_file():
            raise TitoError(f"{f} does not exist.", "Pass the downloaded .ipynb or .zip files.")
    present = sorted(p for p in archive.iterdir() if p.is_file()) if archive.is_dir() else []
    check_downloads(course, module, [*files, *(p for p in present if p.name not in {f.name for f in files})])
    archive.mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copy2(f, archive / f.name)
    if not any(archive.iterdir()):
        raise TitoError(f"{archive} is empty: nothing to collect.",
                        "Put the downloaded files there (or pass them on the command line).")
    step = run_nbgrader(course, ["zip_collect", assignment(module), "--force"],
                        what=f"collect the downloaded submissions of {assignment(module)}")
    unmatched = [ln for ln in warnings(step) if "did not match" in ln]
    if unmatched:
        names = ", ".join(sorted({Path(ln.rsplit(" in: ", 1)[-1]).name for ln in unmatched}))
        raise TitoError(f"{len(unmatched)} downloaded file(s) do not say whose they are and were not "
                        f"collected: {names} (the others were).",
                        "Rename each to `<student id>_" + assignment(module) + ".ipynb` (or set "
                        "c.FileNameCollectorPlugin.named_regexp in nbgrader_config.py) and run "
                        "zip_collect again.")
    return step


# ------------------------------------------------------------------------------------------------
# autograde: in tito's jail (tito.grading.nbgrader_execute), not in a kernel
# ------------------------------------------------------------------------------------------------

def check_autograde(course: Path, module: Module, student: str | None = None) -> None:
    """Refuse what would make nbgrader's autograde fail or grade nothing, naming it: an assignment not
    generated, nothing collected, an unknown student, a submission folder without the notebook."""
    course = Path(course).resolve()
    _require_generated(course, module)
    name = assignment(module)
    folders = sorted(p for p in (course / "submitted").glob(f"*/{name}") if p.is_dir())
    if not folders:
        raise TitoError(f"no submission of {name} has been collected.",
                        f"Run `tito nbgrader collect {module.number}` or `tito nbgrader zip_collect "
                        f"{module.number} FILES...` first.")
    if student is not None:
        known = {f.parent.name for f in folders}
        if student not in known:
            roster = student_ids(course)
            what = ("has no collected submission of" if student in roster
                    else "is not a student with a submission of")
            raise TitoError(f"{student!r} {what} {name}" + suggest(student, known | roster) + ".",
                            f"Students with a submission: {', '.join(sorted(known))}.")
        folders = [f for f in folders if f.parent.name == student]
    wrong = [f for f in folders if not (f / f"{name}.ipynb").is_file()]
    if wrong:
        found = "; ".join(f"submitted/{f.parent.name}/{name}/ holds "
                          + (", ".join(sorted(p.name for p in f.iterdir())) or "nothing") for f in wrong)
        raise TitoError(f"{len(wrong)} submission(s) of {name} lack {name}.ipynb, so nbgrader cannot grade "
                        f"them: {found}.", f"Put the student's {name}.ipynb there or delete the folder, then "
                                           "autograde again.")


# nbgrader's autograde steps after the sanitizing ones, with tito's jailed run in place of its kernel
AUTOGRADE_STEPS = ("tito.grading.nbgrader_execute.JailedExecute", "nbgrader.preprocessors.IgnorePattern",
                   "nbconvert.preprocessors.ClearMetadataPreprocessor", "nbgrader.preprocessors.LimitOutput",
                   "nbgrader.preprocessors.SaveAutoGrades", "nbgrader.preprocessors.AssignLatePenalties",
                   "nbgrader.preprocessors.CheckCellMetadata")


def autograde(repo: Path, course: Path, module: Module, student: str | None = None, *,
              unsafe: bool = False, seed: int | None = None) -> Step:
    """nbgrader's autograde of `module`, every submission run in tito's jail and checked by its probes
    (tito.grading.nbgrader_execute); refused where no jail can be made, unless `unsafe`."""
    from tito.grading import jail, nbgrader_execute, probes

    course = Path(course).resolve()
    check_autograde(course, module, student)
    jail.require(unsafe)
    forget_scores(course, module, student)
    args = ["autograde", assignment(module), "--force",
            *(f"--Autograde.autograde_preprocessors={step}" for step in AUTOGRADE_STEPS)]
    if student:
        args.append(f"--student={student}")
    env = {nbgrader_execute.REPO_ENV: str(Path(repo).resolve()),
           nbgrader_execute.SEED_ENV: str(probes.new_seed() if seed is None else seed),
           nbgrader_execute.UNSAFE_ENV: "1" if unsafe else "0"}
    return run_nbgrader(course, args, what=f"autograde {assignment(module)}", env=env)


def forget_scores(course: Path, module: Module, student: str | None = None) -> int:
    """Clear the automatic scores of the submissions about to be autograded (all of `module`'s, or
    `student`'s), so that one nbgrader cannot grade again shows "not graded", never its old points.
    Manual scores stay. Returns how many grades were cleared."""
    if not (Path(course) / "gradebook.db").is_file():
        return 0
    cleared = 0
    with _gradebook(course) as gb:
        try:
            submissions = gb.find_assignment(assignment(module)).submissions
        except Exception:  # nbgrader's MissingEntry: never graded, nothing to forget
            return 0
        for sub in submissions:
            if student is None or sub.student.id == student:
                for nb in sub.notebooks:
                    for grade in nb.grades:
                        if grade.auto_score is not None:
                            grade.auto_score, cleared = None, cleared + 1
        gb.db.commit()
    return cleared


def generated_modules(repo: Path, course: Path) -> list[Module]:
    """The written modules whose assignment is generated (release/NN_slug/ exists), in order."""
    return [m for m in available(repo) if (require_course(course) / "release" / assignment(m)).is_dir()]


def autograded_modules(repo: Path, course: Path) -> list[Module]:
    """The written modules with autograded submissions (autograded/*/NN_slug/), in order."""
    course = require_course(course)
    return [m for m in available(repo) if any((course / "autograded").glob(f"*/{assignment(m)}"))]


def collected_modules(repo: Path, course: Path) -> list[Module]:
    """The written modules whose assignment is generated and has collected submissions, in order."""
    course = require_course(course)
    return [m for m in available(repo) if (course / "release" / assignment(m)).is_dir()
            and any((course / "submitted").glob(f"*/{assignment(m)}"))]


def feedback(course: Path, module: Module, *, release_: bool = False) -> list[Step]:
    steps = [run_nbgrader(course, ["generate_feedback", assignment(module), "--force"],
                          what=f"write the feedback of {assignment(module)}")]
    if release_:
        steps.append(run_nbgrader(course, ["release_feedback", assignment(module)],
                                  what=f"release the feedback of {assignment(module)} to the exchange"))
    return steps


# ------------------------------------------------------------------------------------------------
# report
# ------------------------------------------------------------------------------------------------

REPORT_FIELDS = ("student", "module", "cell", "points", "max_points", "status", "late_seconds",
                 "needs_manual_grade")
GRADED, NOT_GRADED, MISSING = "graded", "not graded", "missing"


def report_rows(course: Path) -> list[dict]:
    """One row per student, assignment and graded cell from the gradebook (`cell` = grade_id), in
    order, for every assignment with at least one collected submission and every student in the
    gradebook (the roster, and anyone autograded) or in submitted/. `status`: "graded"; "not graded"
    (collected, not autograded yet: points None); "missing" (no submission: points 0).
    `late_seconds`: how late the submission was after the assignment's due date (0: on time or no
    due date); `needs_manual_grade`: nbgrader flags the cell for a person to grade."""
    from nbgrader.api import MissingEntry

    course = require_course(course)
    db = course / "gradebook.db"
    if not db.is_file():
        raise TitoError(f"{db} does not exist: nothing has been graded in this course yet.",
                        "Run `tito nbgrader autograde NN` first.")
    rows = []
    with _gradebook(course) as gb:
        for a in sorted(gb.assignments, key=lambda a: a.name):
            collected = {p.parent.name for p in (course / "submitted").glob(f"*/{a.name}") if p.is_dir()}
            if not a.submissions and not collected:
                continue  # generated or released, nothing collected yet
            cells = [(nb.name, c.name, float(c.max_score))
                     for nb in sorted(a.notebooks, key=lambda n: n.name) for c in nb.grade_cells]
            for student in sorted({s.id for s in gb.students} | collected):
                try:
                    sub = gb.find_submission(a.name, student)
                except MissingEntry:
                    status, points = (NOT_GRADED, None) if student in collected else (MISSING, 0.0)
                    rows += [{"student": student, "module": a.name, "cell": cell, "points": points,
                              "max_points": most, "status": status, "late_seconds": 0.0,
                              "needs_manual_grade": False} for _, cell, most in cells]
                    continue
                late = float(sub.total_seconds_late or 0.0)
                grades = {(nb.name, g.name): g for nb in sub.notebooks for g in nb.grades}
                for nb_name, cell, most in cells:
                    g = grades.get((nb_name, cell))
                    unscored = g is None or (g.auto_score is None and g.manual_score is None)
                    score = None if unscored else float(g.score)
                    rows.append({"student": student, "module": a.name, "cell": cell, "points": score,
                                 "max_points": most, "status": NOT_GRADED if score is None else GRADED,
                                 "late_seconds": late,
                                 "needs_manual_grade": bool(g is not None and g.needs_manual_grade)})
    return rows


@contextlib.contextmanager
def _gradebook(course: Path):  # -> Iterator[nbgrader.api.Gradebook]
    """The course's gradebook (nbgrader may run `alembic` from this environment's bin/ to open it)."""
    from nbgrader.api import Gradebook

    old_path = os.environ.get("PATH", "")
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), old_path])
    try:
        with Gradebook(f"sqlite:///{Path(course) / 'gradebook.db'}") as gb:
            yield gb
    finally:
        os.environ["PATH"] = old_path


def student_ids(course: Path) -> set[str]:
    """The students of the course's gradebook (the roster, and anyone autograded); empty without one."""
    if not (Path(course) / "gradebook.db").is_file():
        return set()
    try:
        import nbgrader.api  # noqa: F401 - only: can the gradebook be read here?
    except ImportError:
        return set()
    with _gradebook(course) as gb:
        return {s.id for s in gb.students}


def totals(rows: list[dict]) -> dict[tuple[str, str], tuple[float, float]]:
    """(student, module) -> (points, max points)."""
    out: dict[tuple[str, str], tuple[float, float]] = {}
    for r in rows:
        got, most = out.get((r["student"], r["module"]), (0.0, 0.0))
        out[(r["student"], r["module"])] = (got + (r["points"] or 0.0), most + r["max_points"])
    return out


def render_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(REPORT_FIELDS), lineterminator="\n")
    writer.writeheader()
    writer.writerows([{**r, "points": "" if r["points"] is None else r["points"]} for r in rows])
    return buf.getvalue()


def render_json(rows: list[dict]) -> str:
    status: dict[tuple[str, str], str] = {}
    for r in rows:  # a module's status: missing, else not graded if any cell is, else graded
        key = (r["student"], r["module"])
        if status.get(key) not in (MISSING, NOT_GRADED):
            status[key] = r["status"]
    late = {(r["student"], r["module"]): r["late_seconds"] for r in rows}
    manual = {(r["student"], r["module"]) for r in rows if r["needs_manual_grade"]}
    summary = [{"student": s, "module": m, "points": p, "max_points": mx, "status": status[(s, m)],
                "late_seconds": late[(s, m)], "needs_manual_grade": (s, m) in manual}
               for (s, m), (p, mx) in totals(rows).items()]
    return json.dumps({"cells": rows, "totals": summary}, indent=2) + "\n"
