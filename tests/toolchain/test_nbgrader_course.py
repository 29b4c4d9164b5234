"""`tito nbgrader`: the real NBGrader end to end, with honest grades; the locked-cell checksum that
tolerates what nbgrader adds. The end-to-end test needs the instructor extra (nbgrader 0.9) and skips,
saying so, without it."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tito import cli
from tito.course import checksums, locks, notebook, validate
from tito.errors import TitoError
from tito.grading import grader
from tito.grading import nbgrader_course as nbc
from tito.registry import get_module

from .conftest import graded_points, has_nbgrader, needs_nbgrader

REPO = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------------------------------------
# Fast checks (no nbgrader process)
# ------------------------------------------------------------------------------------------------

def _locked_cell(module: str) -> notebook.Cell:
    cells = notebook.parse(REPO / get_module(module).source)
    return next(c for c in cells if c.is_locked)


def test_checksum_ignores_the_keys_nbgrader_adds():
    cell = _locked_cell("01")
    added = copy.deepcopy(cell)
    added.metadata["nbgrader"] = {**cell.nbgrader, "checksum": "66130132d7053f230a65f7ae5f249c8a",
                                  "cell_type": "code"}
    added.metadata.update(deletable=False, editable=False)
    assert checksums.checksum(added) == checksums.checksum(cell)


@pytest.mark.parametrize("key, value", [("points", 1000), ("grade", False), ("locked", False),
                                        ("grade_id", "other"), ("task", True)])
def test_checksum_still_covers_every_key_tito_writes(key, value):
    cell = _locked_cell("01")
    changed = copy.deepcopy(cell)
    changed.metadata["nbgrader"] = {**cell.nbgrader, key: value}
    assert checksums.checksum(changed) != checksums.checksum(cell)


def test_checksum_of_malformed_metadata_does_not_crash():
    cell = copy.deepcopy(_locked_cell("01"))
    cell.metadata["nbgrader"] = ["not", "a", "dict"]
    assert len(checksums.checksum(cell)) == 64


def test_source_notebook_drops_only_all_false_metadata():
    pytest.importorskip("jupytext")
    module = get_module("01")
    nb = nbc.source_notebook(REPO, module)
    source_cells = [c for c in notebook.parse(REPO / module.source)]
    flagged = {c.grade_id for c in source_cells if c.nbgrader and any(c.nbgrader.get(f) for f in nbc.FLAGS)}
    plain = {c.grade_id for c in source_cells if c.nbgrader and not any(c.nbgrader.get(f) for f in nbc.FLAGS)}
    assert "tensor-setup" in plain and "test-matmul" in flagged
    kept = {c.metadata["nbgrader"]["grade_id"] for c in nb.cells if "nbgrader" in c.metadata}
    assert kept == flagged
    assert nb.metadata["kernelspec"]["name"] == "python3"


def test_roster_is_checked(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("name,email\nAda,a@x\n", encoding="utf-8")
    with pytest.raises(TitoError, match="no `id` column"):
        nbc.read_roster(bad)
    twice = tmp_path / "twice.csv"
    twice.write_text("id,first_name\nada,Ada\nada,Ada\n", encoding="utf-8")
    with pytest.raises(TitoError, match="line 3.*twice"):
        nbc.read_roster(twice)
    slash = tmp_path / "slash.csv"
    slash.write_text("id\n../etc\n", encoding="utf-8")
    with pytest.raises(TitoError, match="line 2"):
        nbc.read_roster(slash)
    good = tmp_path / "good.csv"
    good.write_text("\ufeffid,first_name,last_name,email\nada,Ada,Lovelace,ada@example.org\n",
                    encoding="utf-8")
    assert nbc.read_roster(good) == [{"id": "ada", "first_name": "Ada", "last_name": "Lovelace",
                                      "email": "ada@example.org"}]


def test_init_writes_a_config_nbgrader_reads(tmp_path):
    config = nbc.init(tmp_path / "course", course_id="ml-101", timeout=900)
    text = config.read_text(encoding="utf-8")
    assert "c.CourseDirectory.course_id = 'ml-101'" in text and "c.Execute.timeout = 900" in text
    assert (tmp_path / "course-exchange").is_dir() and not (tmp_path / "course" / "exchange").exists()
    assert (tmp_path / "course").stat().st_mode & 0o777 == 0o700  # solutions and grades: the instructor's
    with pytest.raises(TitoError, match="exists already"):
        nbc.init(tmp_path / "course")
    compile(text, str(config), "exec")
    with pytest.raises(TitoError, match="inside the course folder"):
        nbc.init(tmp_path / "other", exchange=tmp_path / "other" / "exchange")


def test_what_nbgrader_collects_is_not_writable_by_others_and_the_gradebook_is_private(tmp_path):
    course = tmp_path / "course"
    nbc.init(course)
    folder = course / "submitted" / "ann" / "01_tensor"
    folder.mkdir(parents=True)
    (folder / "01_tensor.ipynb").write_text("{}")
    (course / "gradebook.db").write_text("")
    for path in (course / "submitted", course / "submitted" / "ann", folder, folder / "01_tensor.ipynb"):
        path.chmod(0o777)  # as nbgrader's collect leaves them, copied from the exchange
    (course / "gradebook.db").chmod(0o644)
    nbc.keep_private(course)
    assert (course / "gradebook.db").stat().st_mode & 0o777 == 0o600
    for path in (course / "submitted", folder, folder / "01_tensor.ipynb"):
        assert path.stat().st_mode & 0o022 == 0, path  # no group or other write


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to give files away")
def test_collect_takes_a_submission_only_from_the_user_it_names(tmp_path):
    """`nbgrader submit --CourseDirectory.student_id=nobody` run by someone else: moved aside, never
    collected under nobody's name (nbgrader itself only warns, and takes the newest)."""
    inbound, refused = tmp_path / "inbound", tmp_path / "course" / "refused" / "01_tensor"
    for claimed, owner in (("nobody", 65534), ("nobody", 0), ("root", 0), ("root", 65534)):
        entry = inbound / f"{claimed}+01_tensor+2026-12-0{owner % 7 + 1} 10:00:00.000000 UTC+{owner}"
        entry.mkdir(parents=True)
        os.chown(entry, owner, owner)
    (inbound / "nobody+05_autograd+2026-12-01 10:00:00.000000 UTC+0").mkdir()  # another module: not looked at
    moved = nbc.refuse_foreign(inbound, "01_tensor", refused)
    assert sorted(p.name.split("+")[0] + "/" + p.name.rsplit("+", 1)[1] for p in inbound.iterdir()) == \
        ["nobody/0", "nobody/65534", "root/0"]
    assert len(moved) == 2 and "claims to be nobody's but belongs to root" in " ".join(moved), moved
    assert sorted(p.name.rsplit("+", 1)[1] for p in refused.iterdir()) == ["0", "65534"]


def test_commands_outside_a_course_say_so(tmp_path):
    with pytest.raises(TitoError, match="not a TinyTorch nbgrader course"):
        nbc.run_nbgrader(tmp_path, ["--version"], what="check")
    for args in (["autograde", "05"], ["report"], ["zip_collect", "01"], ["generate", "01"]):
        result = CliRunner().invoke(cli.app, ["nbgrader", *args, "--course", str(tmp_path)])
        assert result.exit_code == 1 and "not a TinyTorch nbgrader course" in result.output, result.output


@pytest.mark.parametrize("args, said", [
    (["autograde"], "Give module numbers or --all"),
    (["autograde", "01", "--all"], "Give module numbers or --all"),
    (["release", "01", "--all"], "Give module numbers or --all"),
    (["autograde", "--all"], "no module has collected submissions"),
    (["release", "--all"], "no module is generated"),
    (["collect", "--all"], "no module is generated"),
    (["feedback", "--all"], "no module is autograded"),
    (["autograde", "01"], "not generated yet"),
    (["autograde", "0"], "No module '0'"),
])
def test_modules_or_all_and_what_is_missing(tmp_path, args, said):
    nbc.init(tmp_path / "course")
    result = CliRunner().invoke(cli.app, ["nbgrader", *args, "--course", str(tmp_path / "course")])
    assert result.exit_code == 1 and said in result.output, result.output


def _generated(tmp_path: Path) -> Path:
    """A course with module 01 generated (as far as tito's checks look: release/01_tensor/)."""
    course = tmp_path / "course"
    nbc.init(course)
    (course / "release" / "01_tensor").mkdir(parents=True)
    return course


def test_autograde_refuses_a_submission_without_the_notebook_before_nbgrader_runs(tmp_path):
    course = _generated(tmp_path)
    for student, name in (("ann", "01_tensor.ipynb"), ("ghost", "02_activations.ipynb")):
        (course / "submitted" / student / "01_tensor").mkdir(parents=True)
        (course / "submitted" / student / "01_tensor" / name).write_text("{}")
    result = CliRunner().invoke(cli.app, ["nbgrader", "autograde", "01", "--course", str(course)])
    assert result.exit_code == 1, result.output
    assert "submitted/ghost/01_tensor/ holds 02_activations.ipynb" in result.output
    assert "Autograding" not in result.output  # refused before anything started
    for who, said in (("Ann", "did you mean 'ann'?"), ("bob", "is not a student with a submission")):
        result = CliRunner().invoke(cli.app, ["nbgrader", "autograde", "01", "--student", who,
                                              "--course", str(course)])
        assert result.exit_code == 1 and said in result.output, result.output


def test_autograde_refuses_without_a_jail_and_says_why(tmp_path, monkeypatch):
    from tito.grading import jail

    course = _generated(tmp_path)
    (course / "submitted" / "ann" / "01_tensor").mkdir(parents=True)
    (course / "submitted" / "ann" / "01_tensor" / "01_tensor.ipynb").write_text("{}")
    monkeypatch.setattr(jail, "problem", lambda: "bubblewrap (bwrap) is not installed")
    result = CliRunner().invoke(cli.app, ["nbgrader", "autograde", "01", "--course", str(course)])
    assert result.exit_code == 1, result.output
    text = " ".join(result.output.split())
    assert "graded only in a jail, and none can be made here: bubblewrap (bwrap) is not installed" in text
    assert "--unsafe" in text and "Autograded" not in text


def test_the_course_is_found_from_a_folder_inside_it(tmp_path, monkeypatch):
    course = _generated(tmp_path)
    (course / "submitted" / "ann" / "01_tensor").mkdir(parents=True)
    monkeypatch.chdir(course / "submitted" / "ann")
    result = CliRunner().invoke(cli.app, ["nbgrader", "autograde", "01"])
    assert "lack 01_tensor.ipynb" in result.output, result.output  # it found the course
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli.app, ["nbgrader", "autograde", "01"])
    assert result.exit_code == 1 and "no course here" in result.output and "--course DIR" in result.output


def test_zip_collect_checks_every_file_before_copying(tmp_path):
    course = _generated(tmp_path)
    good, other, unnamed = (tmp_path / n for n in ("ann_01_tensor.ipynb", "ghost_02_activations.ipynb",
                                                    "01_tensor (1).ipynb"))
    for f in (good, other, unnamed):
        f.write_text("{}")
    bundle = tmp_path / "lms.zip"
    with __import__("zipfile").ZipFile(bundle, "w") as z:
        z.writestr("export/bob_03_layers.ipynb", "{}")
    with pytest.raises(TitoError) as info:
        nbc.zip_collect(course, get_module("01"), [good, other, unnamed, bundle])
    text = str(info.value)
    assert "ghost_02_activations.ipynb: is 02_activations.ipynb, not 01_tensor.ipynb" in text
    assert "01_tensor (1).ipynb: says no student" in text
    assert "lms.zip: export/bob_03_layers.ipynb: is 03_layers.ipynb" in text
    assert not (course / "downloaded" / "01_tensor" / "archive").exists()  # nothing copied


def test_warnings_keep_the_lines_that_continue_them():
    log = ("[CollectApp | INFO] Processing 1 submissions\n[CollectApp | WARNING] \n"
           "    /x/inbound/ann+01_tensor+t claims to be submitted by ann but is owned by root; "
           "cheating attempt?\n"
           "    you may disable this warning by unsetting the option CollectApp.check_owner\n    \n"
           "[CollectApp | INFO] Collecting submission: ann 01_tensor\n")
    found = nbc.warnings(nbc.Step("nbgrader collect", 1.0, log))
    assert len(found) == 1 and "claims to be submitted by ann but is owned by root" in found[0]
    assert found[0].endswith("CollectApp.check_owner")


def test_a_student_edition_cannot_run_a_course(fake_repo, tito, tmp_path):
    """Its module files hold stubs: no solutions to generate from, stubs as prerequisites' code."""
    (fake_repo / "modules" / ".released").mkdir(parents=True)
    nbc.init(tmp_path / "course")
    course = ["--course", str(tmp_path / "course")]
    for args in (["init", str(tmp_path / "c2")], ["generate", "01", *course], ["autograde", "01", *course],
                 ["autograde", "--all", *course]):
        result = tito(fake_repo, "nbgrader", *args)
        assert result.exit_code == 1 and "is a student edition" in result.output, (args, result.output)
    assert not (tmp_path / "c2").exists()


def test_missing_nbgrader_says_how_to_install(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "nbgrader", None)  # import nbgrader -> ImportError
    with pytest.raises(TitoError, match="not installed") as info:
        nbc.nbgrader_bin()
    assert "[instructor]" in info.value.hint


# ------------------------------------------------------------------------------------------------
# End to end with the real nbgrader: modules 01 and 05, three students each
# ------------------------------------------------------------------------------------------------

STUDENTS = ("ref", "untouched", "broken")  # submit both modules
CHEATER = "cheater"  # submits module 01 only: the release with tricks instead of code
ABSENT = "absent"  # on the roster, submits nothing

# Each submits module 01 only: the untouched release plus one cell of the cheats issue 19 measured
# against nbgrader's own kernel (63/63, 115/115, other students' grades changed ...).
# where a course, a repository and a class's folders live (here: under /tmp)
_SEARCH = ("import glob\n"
           "def find(pattern):\n"
           "    return [p for top in ('/tmp', '/home', '/srv')\n"
           "            for p in glob.glob(top + pattern, recursive=True)]\n")
CHEATS = {
    # an IPython hook that rebinds __name__ before each cell, and an input transformer that blanks
    # the test cells (there is no IPython in the jail: the cell fails, the tests run as released)
    "hooker": "ip = get_ipython()\n"
              "ip.events.register('pre_run_cell', lambda *a: ip.user_ns.__setitem__('__name__', 'x'))\n"
              "ip.input_transformers_cleanup.append(lambda lines: [])\n",
    # the reference from the course's source/ notebook or the repository's package, on disk
    "thief": _SEARCH + "import json\n"
             "for nb in find('/**/source/01_tensor/01_tensor.ipynb'):\n"
             "    for cell in json.load(open(nb))['cells']:\n"
             "        if cell['cell_type'] == 'code' and 'grade' not in str(cell['metadata']):\n"
             "            exec(''.join(cell['source']))\n"
             "for path in find('/**/tinytorch/tensor.py'):\n"
             "    exec(open(path).read())\n",
    # the gradebook, another student's collected notebook, and a process that outlives the run
    "vandal": _SEARCH + "import sqlite3, subprocess\n"
              "for db in find('/**/gradebook.db'):\n"
              "    con = sqlite3.connect(db)\n"
              "    con.execute('update grade set auto_score = 0')\n"
              "    con.commit()\n"
              "for nb in find('/**/submitted/ref/**/*.ipynb'):\n"
              "    open(nb, 'w').write('{}')\n"
              "subprocess.Popen(['/bin/sh', '-c', 'sleep 30; echo tito-vandal-left-behind'],\n"
              "                 start_new_session=True)\n",
    # ok-lines for every cell written into every open file, then an exit before anything else runs
    "forger": "import json, os\n"
              "lines = ''.join(json.dumps({'index': i, 'ok': True}) + '\\n' for i in range(300))\n"
              "for fd in range(3, 64):\n"
              "    try:\n"
              "        os.write(fd, lines.encode())\n"
              "    except OSError:\n"
              "        pass\n"
              "os._exit(0)\n",
}
ROSTER = (*STUDENTS, CHEATER, *CHEATS, ABSENT)


def _break(module: str, nb: dict) -> dict:
    """The reference with one cell broken: 01's matmul raises; 05's arithmetic-rules cell has a syntax
    error (the case where the instructor's package would stand in: 105/115 with nbgrader's default
    kernel on the instructor's machine, measured; 60/115 graded honestly)."""
    nb = copy.deepcopy(nb)
    for cell in nb["cells"]:
        text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if module == "01" and "    def matmul(self, other)" in text:
            head = text.index("    def matmul(self, other)")
            end = text.index("\n", head) + 1
            cell["source"] = text[:end] + "        raise RuntimeError('broken on purpose')\n" + text[end:]
            return nb
        if module == "05" and cell["metadata"].get("nbgrader", {}).get("grade_id") == "arithmetic-rules":
            cell["source"] = text + "\ndef broken(:\n    pass\n"
            return nb
    raise AssertionError(f"nothing to break in module {module}")


# Written into the first solution cell of the untouched release: graded cells call their tests under
# `if __name__ == "__main__":`, and module 01 once took `close`/`raises` from an unlocked cell.
TRICKS = ("__name__ = 'not_main'  # so that the graded cells skip their tests?\n"
          "def close(*args, **kwargs): pass\n"
          "def raises(*args, **kwargs): pass\n")


def _cheat(nb: dict, tricks: str = TRICKS) -> dict:
    nb = copy.deepcopy(nb)
    cell = next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("solution"))
    text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
    cell["source"] = text + "\n" + tricks
    return nb


def _nbgrader_as_student(args: list[str], home: Path, exchange: Path) -> subprocess.Popen:
    """A student's own nbgrader command (fetch_assignment, submit), run in the student's folder with
    the course's exchange, as the assignment list of Jupyter runs it."""
    env = {k: v for k, v in nbc.course_env(home).items() if k != "JUPYTER_PATH"}
    argv = [str(nbc.nbgrader_bin()), *args, "--course=tinytorch", f"--Exchange.root={exchange}",
            f"--Exchange.cache={home / '.cache'}"]
    return subprocess.Popen(argv, cwd=home, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _all_succeed(procs: dict[str, subprocess.Popen]) -> None:
    for who, proc in procs.items():
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0 and "ERROR" not in out, f"{who}: {out}"


def _tito_nbgrader(*args: str) -> str:
    result = CliRunner().invoke(cli.app, ["nbgrader", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    timed = [ln.strip() for ln in result.output.splitlines() if " s)" in ln]
    print(" ".join(args[:2]), "|", " ".join(timed))
    return result.output


def _new_course(base: Path, number: str) -> tuple[Path, Path]:
    """A course with the whole roster, module `number` generated; the folder of the files students
    hand in (the reference, the untouched release, the reference with one cell broken; for 01 a cheat)."""
    if not has_nbgrader():
        pytest.skip("nbgrader is not installed (pip install -e '.[instructor]')")
    import nbformat

    where = base / "course"
    roster = base / "roster.csv"
    roster.write_text("id,first_name,last_name,email\n" + "".join(f"{s},{s.title()},Student,{s}@example.org\n"
                                                                  for s in ROSTER), encoding="utf-8")
    # every student here is this one OS account: collect cannot tell whose a submission is
    _tito_nbgrader("init", str(where), "--roster", str(roster), "--shared-account")
    _tito_nbgrader("generate", number, "--course", str(where))
    downloads = base / "downloads"
    downloads.mkdir()
    name = nbc.assignment(get_module(number))
    source = json.loads((where / "source" / name / f"{name}.ipynb").read_text(encoding="utf-8"))
    released = (where / "release" / name / f"{name}.ipynb").read_text(encoding="utf-8")
    (downloads / f"ref_{name}.ipynb").write_text(json.dumps(source), encoding="utf-8")
    (downloads / f"untouched_{name}.ipynb").write_text(released, encoding="utf-8")
    broken = _break(number, source)
    (downloads / f"broken_{name}.ipynb").write_text(json.dumps(broken), encoding="utf-8")
    nbformat.validate(nbformat.reads(json.dumps(broken), as_version=4))
    if number == "01":
        cheat = _cheat(json.loads(released))
        (downloads / f"{CHEATER}_{name}.ipynb").write_text(json.dumps(cheat), encoding="utf-8")
        for who, code in CHEATS.items():
            (downloads / f"{who}_{name}.ipynb").write_text(json.dumps(_cheat(json.loads(released), code)),
                                                           encoding="utf-8")
    return where, downloads


def _autograde_and_feedback(where: Path, number: str) -> None:
    """Collected, not autograded yet: "not graded" (no points yet), never "missing"; then autograde
    --all (every module with submissions) and feedback."""
    name = nbc.assignment(get_module(number))
    waiting = {(r["student"], r["module"]): r["status"] for r in nbc.report_rows(where)}
    assert waiting[("ref", name)] == waiting[("broken", name)] == nbc.NOT_GRADED, waiting
    assert waiting[(ABSENT, name)] == nbc.MISSING, waiting
    out = _tito_nbgrader("autograde", "--all", "--course", str(where))
    assert "does not exist in the database" not in out and "WARNING" not in out, out
    _tito_nbgrader("feedback", number, "--course", str(where))
    print({k: v for k, v in nbc.totals(nbc.report_rows(where)).items()})


# Two courses, each its own nbgrader run, so that parallel workers grade them at the same time; each
# generates one module and collects it the way a class would hand it in.
@pytest.fixture(scope="module")
def exchange_course(tmp_path_factory):
    """Module 01 through nbgrader's exchange: released, every student fetches and then submits at
    the same time, collected; autograded, feedback. One nbgrader process per step (students batched)."""
    base = tmp_path_factory.mktemp("nbgrader-exchange")
    where, downloads = _new_course(base, "01")
    release_01 = where / "release" / "01_tensor" / "01_tensor.ipynb"
    _tito_nbgrader("release", "01", "--course", str(where))
    exchange = nbc.default_exchange(where)
    homes = {s: base / "home" / s for s in (*STUDENTS, CHEATER, *CHEATS)}
    for home in homes.values():
        home.mkdir(parents=True)
    _all_succeed({s: _nbgrader_as_student(["fetch_assignment", "01_tensor"], home, exchange)
                  for s, home in homes.items()})
    for s, home in homes.items():
        fetched = home / "01_tensor" / "01_tensor.ipynb"
        assert fetched.read_text(encoding="utf-8") == release_01.read_text(encoding="utf-8")
        shutil.copy(downloads / f"{s}_01_tensor.ipynb", fetched)
    _all_succeed({s: _nbgrader_as_student(["submit", "01_tensor", f"--CourseDirectory.student_id={s}"], home,
                                          exchange) for s, home in homes.items()})
    _tito_nbgrader("collect", "01", "--course", str(where))
    ref = where / "submitted" / "ref" / "01_tensor" / "01_tensor.ipynb"
    before = ref.read_bytes()
    _autograde_and_feedback(where, "01")
    return {"dir": where, "downloads": downloads, "ref_before": before}


@pytest.fixture(scope="module")
def lms_course(tmp_path_factory):
    """Module 05's files downloaded from an LMS (zip_collect); autograded, feedback."""
    where, downloads = _new_course(tmp_path_factory.mktemp("nbgrader-lms"), "05")
    _tito_nbgrader("zip_collect", "05", *(str(downloads / f"{s}_05_autograd.ipynb") for s in STUDENTS),
                   "--course", str(where))
    _autograde_and_feedback(where, "05")
    return {"dir": where, "downloads": downloads}


def _grade_ipynb(number: str, path: Path) -> grader.GradeReport:
    """The same submission graded without nbgrader (tito.grading.grader, n2's runner): the cross-check."""
    return grader.grade_file(REPO, number, path)


def _check_full_zero_and_exactly_the_passing_cells(course, number):
    name = nbc.assignment(get_module(number))
    rows = [r for r in nbc.report_rows(course["dir"]) if r["module"] == name]
    totals = nbc.totals(rows)
    ref, most = totals[("ref", name)]
    assert most > 0 and ref == most
    assert totals[("untouched", name)] == (0.0, most)
    broken, _ = totals[("broken", name)]
    assert 0 < broken < most
    # exactly the cells that still pass: the same cells tito's own runner passes on the same file
    independent = _grade_ipynb(number, course["downloads"] / f"broken_{name}.ipynb")
    by_cell = {r["cell"]: r["points"] for r in rows if r["student"] == "broken"}
    assert by_cell == {c.grade_id: c.points for c in independent.cells}
    failed = {cell for cell, points in by_cell.items() if points == 0}
    assert ("test-matmul" if number == "01" else "test-arithmetic-rules") in failed
    # a student on the roster who submitted nothing: 0 points, "missing"
    assert totals[(ABSENT, name)] == (0.0, most)
    assert {r["status"] for r in rows if r["student"] == ABSENT} == {nbc.MISSING}
    assert {r["status"] for r in rows if r["student"] in STUDENTS} == {nbc.GRADED}


def _check_tricks_score_nothing(course):
    """`__name__` rebound and the test helpers shadowed in a solution cell: still 0, with nbgrader
    (tito's runner resets `__name__` before each cell; graded tests import their helpers) and
    with tito's own runner."""
    rows = [r for r in nbc.report_rows(course["dir"]) if r["module"] == "01_tensor"]
    got, most = nbc.totals(rows)[(CHEATER, "01_tensor")]
    assert most == graded_points("01") and got == 0, [r for r in rows if r["student"] == CHEATER]
    assert _grade_ipynb("01", course["downloads"] / f"{CHEATER}_01_tensor.ipynb").total == 0


def _check_cheats_score_nothing_and_harm_nothing(course):
    """Each cheat, submitted through the exchange and autograded as documented: 0 points; the
    reference's grades and collected notebook unchanged; no process of a cheat left running."""
    rows = [r for r in nbc.report_rows(course["dir"]) if r["module"] == "01_tensor"]
    totals = nbc.totals(rows)
    assert {who: totals[(who, "01_tensor")][0] for who in CHEATS} == dict.fromkeys(CHEATS, 0.0)
    assert totals[("ref", "01_tensor")] == (graded_points("01"),) * 2
    assert (course["dir"] / "submitted" / "ref" / "01_tensor" / "01_tensor.ipynb").read_bytes() == \
        course["ref_before"]
    left = [p for p in Path("/proc").iterdir() if p.name.isdigit()
            and b"tito-vandal-left-behind" in _cmdline(p)]
    assert left == []


def _cmdline(proc: Path) -> bytes:
    try:
        return (proc / "cmdline").read_bytes()
    except OSError:
        return b""


def _check_broken_05_is_not_rescued_by_the_reference(course):
    """The syntax error in 05's arithmetic-rules cell: with the instructor's package its reference
    rules stand in (105/115); graded honestly, every test that needs add/mul gradients fails, and
    says why in the autograded notebook (an error output, as a kernel would write it)."""
    rows = [r for r in nbc.report_rows(course["dir"])
            if r["module"] == "05_autograd" and r["student"] == "broken"]
    failed = {r["cell"] for r in rows if r["points"] == 0}
    assert {"test-arithmetic-rules", "test-backward", "test-gradcheck", "test-module"} <= failed, rows
    graded = json.loads((course["dir"] / "autograded" / "broken" / "05_autograd" / "05_autograd.ipynb")
                        .read_text(encoding="utf-8"))
    errors = {c["metadata"]["nbgrader"]["grade_id"]: o for c in graded["cells"]
              if c["cell_type"] == "code" and c["metadata"].get("nbgrader", {}).get("grade_id")
              for o in c["outputs"] if o["output_type"] == "error"}
    assert errors["arithmetic-rules"]["ename"] == "SyntaxError", errors.get("arithmetic-rules")
    assert set(errors) - {"arithmetic-rules"} == failed


def _check_feedback_and_report(course, number: str, missing: set[str]):
    """Feedback for every submission; the report: a row for everyone on the roster, those who handed
    nothing in "missing", everyone else "graded"."""
    name = nbc.assignment(get_module(number))
    feedback = course["dir"] / "feedback"
    for s in STUDENTS:
        assert (feedback / s / name / f"{name}.html").is_file()
    assert not (feedback / ABSENT).exists()
    result = CliRunner().invoke(cli.app, ["nbgrader", "report", "--json", "--course", str(course["dir"])])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    status = {(t["student"], t["module"]): t["status"] for t in data["totals"]}
    assert status == {(s, name): nbc.MISSING if s in missing else nbc.GRADED for s in ROSTER}
    csv_out = CliRunner().invoke(cli.app, ["nbgrader", "report", "--course", str(course["dir"])]).output
    assert csv_out.splitlines()[0] == \
        "student,module,cell,points,max_points,status,late_seconds,needs_manual_grade"
    assert len(csv_out.splitlines()) == 1 + len(data["cells"])


def _check_round_trip_passes_tito_checks(course, tmp_path, number: str):
    """Round trip: nbgrader's student notebook, back to the percent format, still matches the
    released locked-cell checksums (the keys nbgrader added are ignored)."""
    import jupytext

    module = get_module(number)
    name = nbc.assignment(module)
    released = locks.load(REPO)[module.name]
    # the student version as released, and the reference submission as nbgrader autograded it
    for nb_path in (course["dir"] / "release" / name / f"{name}.ipynb",
                    course["dir"] / "autograded" / "ref" / name / f"{name}.ipynb"):
        back = tmp_path / f"{nb_path.parent.parent.name}_{name}_dev.py"
        jupytext.write(jupytext.read(nb_path), back, fmt="py:percent")
        text = back.read_text(encoding="utf-8")
        cells = notebook.parse_text(text)[1]
        assert any("checksum" in (c.nbgrader or {}) for c in cells)  # nbgrader's keys are there
        assert validate.check(cells, module.slug, released=released, source=text, require_markers=False,
                              student_edition=True) == []
        # and a changed test in such a notebook is still caught
        locked = next(c for c in cells if c.is_locked)
        locked.lines.append("assert True")
        assert validate.locked_cells(cells, released) != []


def _check_zip_collect_knows_the_roster(course, tmp_path):
    """Downloaded files of students the gradebook does not know are refused before anything is
    copied (nbgrader would file them under a new student: `Ref` beside `ref`, who stays missing)."""
    files = []
    for name in ("Ref_01_tensor.ipynb", "newbie_01_tensor.ipynb", "notebook.ipynb"):
        files.append(tmp_path / name)
        shutil.copy(course["downloads"] / "ref_01_tensor.ipynb", files[-1])
    archive = course["dir"] / "downloaded" / "01_tensor" / "archive"
    before = sorted(archive.iterdir()) if archive.is_dir() else []
    with pytest.raises(TitoError) as info:
        nbc.zip_collect(course["dir"], get_module("01"), files)
    text = str(info.value)
    assert "'Ref' is not a student of this course (did you mean 'ref'?)" in text, text
    assert "'newbie' is not a student of this course" in text and "notebook.ipynb: says no student" in text
    assert (sorted(archive.iterdir()) if archive.is_dir() else []) == before
    assert not (course["dir"] / "submitted" / "Ref").exists()


def _check_a_failed_generate_keeps_the_release(course, monkeypatch):
    """nbgrader refuses to add a graded cell to an assignment with submissions, after deleting its
    release folder: tito puts the release back and says why in its own words."""
    import nbformat

    where, module = course["dir"], get_module("01")
    release = where / "release" / "01_tensor" / "01_tensor.ipynb"
    source = where / "source" / "01_tensor" / "01_tensor.ipynb"
    before = release.read_bytes(), source.read_bytes()
    original = nbc.source_notebook

    def with_a_new_test(repo, m):
        nb = original(repo, m)
        cell = nbformat.v4.new_code_cell("assert True")
        cell.metadata["nbgrader"] = {"grade": True, "grade_id": "test-new", "locked": True, "points": 1,
                                     "schema_version": 3, "solution": False, "task": False}
        nb.cells.append(cell)
        return nb

    monkeypatch.setattr(nbc, "source_notebook", with_a_new_test)
    with pytest.raises(TitoError, match="students have submitted this assignment") as info:
        nbc.generate(REPO, where, [module])
    assert "the release was left as it was" in str(info.value)
    assert (release.read_bytes(), source.read_bytes()) == before


def _check_a_submission_nbgrader_cannot_grade_shows_not_graded(course):
    """A collected notebook that is no longer a notebook (here: truncated JSON): nbgrader cannot
    grade it; its earlier points must not stay as "graded", and the other students are graded."""
    where = course["dir"]
    truncated = where / "submitted" / "broken" / "01_tensor" / "01_tensor.ipynb"
    truncated.write_text('{"cells": [', encoding="utf-8")
    result = CliRunner().invoke(cli.app, ["nbgrader", "autograde", "01", "--course", str(where)])
    assert result.exit_code == 1 and 'show as "not graded"' in result.output, result.output
    totals = nbc.totals([r for r in nbc.report_rows(where) if r["module"] == "01_tensor"])
    status = {r["student"]: r["status"] for r in nbc.report_rows(where) if r["module"] == "01_tensor"}
    assert status["broken"] == nbc.NOT_GRADED and totals[("broken", "01_tensor")][0] == 0
    assert status["ref"] == nbc.GRADED and totals[("ref", "01_tensor")] == (graded_points("01"),) * 2


@needs_nbgrader
@pytest.mark.slow
def test_nbgrader_end_to_end_through_the_exchange(exchange_course, tmp_path, monkeypatch):
    """Module 01 (one test per course, so that a worker builds it once): three submissions: full
    points, zero, exactly the cells still passing; tricks score nothing; a student without a
    submission is reported missing; feedback, report; round trip into tito's checks; zip_collect
    checks names and the roster."""
    _check_full_zero_and_exactly_the_passing_cells(exchange_course, "01")
    _check_tricks_score_nothing(exchange_course)
    _check_cheats_score_nothing_and_harm_nothing(exchange_course)
    _check_feedback_and_report(exchange_course, "01", missing={ABSENT})
    _check_round_trip_passes_tito_checks(exchange_course, tmp_path, "01")
    _check_zip_collect_knows_the_roster(exchange_course, tmp_path)
    _check_a_failed_generate_keeps_the_release(exchange_course, monkeypatch)
    _check_a_submission_nbgrader_cannot_grade_shows_not_graded(exchange_course)  # (changes the course)


@needs_nbgrader
@pytest.mark.slow
def test_nbgrader_end_to_end_from_an_lms(lms_course, tmp_path):
    """Module 05: full points, zero, exactly the cells still passing; no reference code of the graded
    module reachable from the jailed run; feedback, report; round trip into tito's checks."""
    _check_full_zero_and_exactly_the_passing_cells(lms_course, "05")
    _check_broken_05_is_not_rescued_by_the_reference(lms_course)
    _check_feedback_and_report(lms_course, "05", missing={ABSENT, CHEATER, *CHEATS})
    _check_round_trip_passes_tito_checks(lms_course, tmp_path, "05")
