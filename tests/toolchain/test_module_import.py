"""`tito module import NN NOTEBOOK.ipynb`: a notebook that went through nbgrader back into the module
file, byte for byte where nothing changed; checked before anything is written; the old file backed up.

Fast tests build the notebooks as `tito nbgrader generate` does (the steps of
tito.grading.nbgrader_course.source_notebook, with jupytext) and add what nbgrader 0.9.6 adds;
one test uses the real nbgrader when the instructor extra is installed."""

from __future__ import annotations

import copy
import hashlib
import json
import sys
from pathlib import Path

import pytest

from tito.course import locks, notebook, validate
from tito.course.edition import released_copy, student_text
from tito.errors import TitoError
from tito.grading import nbgrader_course as nbc
from tito.grading import notebook_import
from tito.registry import MODULES, get_module
from tito.state import backups
from tito.state.progress import BACKUPS

from .conftest import REPO, add_module, needs_nbgrader

jupytext = pytest.importorskip("jupytext")
nbformat = pytest.importorskip("nbformat")

SOURCE = Path("modules/source/01_tensor/01_tensor_dev.py")
PYTHON = sys.executable  # this environment's (the `tito` fixture points sys.executable elsewhere)


def generated(text: str):
    """The notebook `tito nbgrader generate` writes for a module file's text (source_notebook's steps,
    without its reference-only validation, so that a student's file can be used too)."""
    nb = jupytext.reads(text, fmt="py:percent")
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader")
        if isinstance(meta, dict) and not any(meta.get(flag) for flag in nbc.FLAGS):
            del cell.metadata["nbgrader"]
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python",
                                 "name": "python3"}
    nb.metadata.pop("jupytext", None)
    return nb


def through_nbgrader(nb):
    """What nbgrader 0.9.6's generate_assignment adds (seen in its release/ notebooks), and what
    Jupyter adds when the student runs it (outputs, language_info)."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader")
        if isinstance(meta, dict):
            meta["cell_type"] = cell.cell_type
            meta["checksum"] = hashlib.md5(cell.source.encode()).hexdigest()
            cell.metadata["deletable"] = False
            if meta.get("locked"):
                cell.metadata["editable"] = False
        if cell.cell_type == "code":
            cell.execution_count = 1
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="ran\n")]
    nb.metadata["language_info"] = {"name": "python", "version": "3.12.3"}
    return nb


def write_nb(path: Path, nb) -> Path:
    path.write_text(nbformat.writes(nb), encoding="utf-8")
    return path


@pytest.fixture
def student(fake_repo, tito, tmp_path) -> Path:
    """A student edition of the fake repository (module 01 and 02)."""
    add_module(fake_repo, "02_activations")
    dest = tmp_path / "student"
    result = tito(fake_repo, "release", "student", str(dest))
    assert result.exit_code == 0, result.output
    return dest


def no_backups(root: Path) -> bool:
    return not (root / BACKUPS).exists() or not any((root / BACKUPS).iterdir())


# ------------------------------------------------------------------------------------------------
# Byte for byte
# ------------------------------------------------------------------------------------------------

def test_every_course_module_comes_back_byte_for_byte():
    """The student edition's file of each of the 20 modules (and module 01's reference), through a
    generated notebook with nbgrader's keys and flags, gives back the same bytes."""
    for module in MODULES:
        reference = (REPO / module.source).read_text(encoding="utf-8")
        released = student_text(module, reference)
        for text in (released, reference) if module.number == "01" else (released,):
            back, _ = notebook_import.convert(through_nbgrader(generated(text)), released)
            assert back == text, module.name


def test_untouched_notebook_in_a_student_edition_changes_nothing(student, tito, tmp_path):
    released = (student / SOURCE).read_bytes()
    nb_path = write_nb(tmp_path / "01_tensor.ipynb", through_nbgrader(generated(released.decode())))
    text, restored = notebook_import.convert(notebook_import.read_notebook(nb_path), released.decode())
    assert text.encode() == released and restored == 1  # the all-false "setup" cell's metadata is back
    result = tito(student, "module", "import", "01", str(nb_path))
    assert result.exit_code == 0, result.output
    assert "holds exactly" in result.output and "nothing written" in result.output
    assert (student / SOURCE).read_bytes() == released and no_backups(student)


def test_an_edited_cell_without_its_plain_metadata_stays_plain_and_valid(student):
    """A plain cell the student edited cannot always be matched; it stays without metadata, which no
    check minds."""
    released = (student / SOURCE).read_text(encoding="utf-8")
    nb = generated(released)
    nb.cells.insert(2, nbformat.v4.new_code_cell("helper = 1"))  # a cell the student added
    text, _ = notebook_import.convert(through_nbgrader(nb), released)
    cells = notebook.parse_text(text)[1]
    assert "helper = 1" in text and [c.grade_id for c in cells].count("setup") <= 1
    assert validate.check(cells, "tensor", released=locks.load(student)["01_tensor"], source=text,
                          require_markers=False, student_edition=True) == []


# ------------------------------------------------------------------------------------------------
# Importing: backup, write, dry run
# ------------------------------------------------------------------------------------------------

def test_dry_run_in_the_reference_repository_shows_the_change_and_writes_nothing(fake_repo, tito, tmp_path):
    before = (fake_repo / SOURCE).read_bytes()
    edited = before.decode().replace("return Tensor(self.data * float(factor))",
                                     "return Tensor(float(factor) * self.data)")
    nb_path = write_nb(tmp_path / "01_tensor.ipynb", through_nbgrader(generated(edited)))
    result = tito(fake_repo, "module", "import", "01", str(nb_path), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "Would change modules/source/01_tensor/01_tensor_dev.py: +1 -1 line(s) in 1 cell(s): " \
           "tensor-class" in result.output and "Nothing written" in result.output
    assert (fake_repo / SOURCE).read_bytes() == before and no_backups(fake_repo)
    result = tito(fake_repo, "module", "import", "01", str(nb_path))  # the reference repository too
    assert result.exit_code == 0, result.output
    assert (fake_repo / SOURCE).read_text(encoding="utf-8") == edited


def test_import_backs_up_the_old_file_first(student, monkeypatch, tmp_path):
    """Interrupt safety: the backup holds the old file before the (atomic) replace starts; an
    interruption during the replace leaves the old file."""
    old = (student / SOURCE).read_bytes()
    module = get_module("01")
    new = old.decode().replace('raise NotImplementedError("Implement Tensor.add',
                               'raise NotImplementedError("Implement add, Tensor.add')
    plan = notebook_import.plan(student, module, write_nb(tmp_path / "nb.ipynb", generated(new)))
    seen = []

    def interrupted(path, text):
        seen.append([p.read_bytes() for p in backups.listing(student, module)])
        raise KeyboardInterrupt

    monkeypatch.setattr(notebook_import, "write_atomic", interrupted)
    with pytest.raises(KeyboardInterrupt):
        notebook_import.apply(student, plan)
    assert seen == [[old]] and (student / SOURCE).read_bytes() == old


def test_a_broken_module_file_is_replaced_and_kept_in_the_backup(student, tito, tmp_path):
    """A student's file that is no longer UTF-8 (or valid at all) can be replaced by their notebook;
    its bytes stay in the backup."""
    released = (student / SOURCE).read_text(encoding="utf-8")
    broken = b"# caf\xe9: saved as Latin-1 by mistake\n"
    (student / SOURCE).write_bytes(broken)
    nb_path = write_nb(tmp_path / "01_tensor.ipynb", through_nbgrader(generated(released)))
    result = tito(student, "module", "import", "01", str(nb_path))
    assert result.exit_code == 0, result.output
    assert (student / SOURCE).read_text(encoding="utf-8") == released
    assert [p.read_bytes() for p in backups.listing(student, get_module("01"))] == [broken]


@pytest.mark.slow
def test_reference_notebook_into_a_student_edition_then_complete(fake_repo, student, tito, tmp_path):
    """The instructor's source notebook (the solutions), as nbgrader and Jupyter leave it, imported
    into a student edition: the reference file exactly, the old file in a backup; complete passes."""
    nb = through_nbgrader(nbc.source_notebook(fake_repo, get_module("01")))
    nb_path = write_nb(tmp_path / "01_tensor.ipynb", nb)
    released = (student / SOURCE).read_bytes()
    result = tito(student, "module", "import", "01", str(nb_path))
    assert result.exit_code == 0, result.output
    assert (student / SOURCE).read_bytes() == (fake_repo / SOURCE).read_bytes()
    [saved] = backups.listing(student, get_module("01"))
    assert saved.read_bytes() == released and f"Backed up your file to {BACKUPS.as_posix()}/" in result.output
    assert "Next: `tito module complete 01`" in result.output
    assert f"--restore {saved.name}" in result.output
    result = tito(student, "module", "complete", "01")
    assert result.exit_code == 0, result.output
    assert (student / "tinytorch" / "tensor.py").is_file()


# ------------------------------------------------------------------------------------------------
# Refusals: a clear message, the module file untouched
# ------------------------------------------------------------------------------------------------

def _changed_test(student: Path, tmp_path: Path) -> Path:
    nb = generated((student / SOURCE).read_text(encoding="utf-8"))
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test-scale")
    cell.source = cell.source.replace("[2.0, 4.0]", "[2.0, 4.0] or True")
    return write_nb(tmp_path / "01_tensor.ipynb", through_nbgrader(nb))


def _other_module(student: Path, tmp_path: Path) -> Path:
    text = (student / "modules/source/02_activations/02_activations_dev.py").read_text(encoding="utf-8")
    return write_nb(tmp_path / "02_activations.ipynb", through_nbgrader(generated(text)))


def _garbage(student: Path, tmp_path: Path) -> Path:
    path = tmp_path / "01_tensor.ipynb"
    path.write_text("<html>not a notebook</html>", encoding="utf-8")
    return path


def _not_a_notebook(student: Path, tmp_path: Path) -> Path:
    path = tmp_path / "01_tensor.ipynb"
    path.write_text(json.dumps({"cells": "none"}), encoding="utf-8")
    return path


def _latin1(student: Path, tmp_path: Path) -> Path:
    path = tmp_path / "01_tensor.ipynb"
    text = nbformat.writes(generated((student / SOURCE).read_text(encoding="utf-8")))
    path.write_bytes(text.replace("A tiny module", "A tiny modul\xe9").encode("latin-1"))
    return path


def _foreign(student: Path, tmp_path: Path) -> Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('hello')")])
    return write_nb(tmp_path / "01_tensor.ipynb", nb)


def _missing(student: Path, tmp_path: Path) -> Path:
    return tmp_path / "nowhere.ipynb"


@pytest.mark.parametrize("make, message", [
    (_changed_test, "line 46 [test-scale]: locked cell was changed since release"),
    (_other_module, "is the notebook of module 02 (Activations), not of module 01 (Tensor)"),
    (_garbage, "is not a notebook: not JSON"),
    (_not_a_notebook, "is JSON but not a notebook"),
    (_latin1, "line 9: byte 0xe9 is not UTF-8"),
    (_foreign, "holds no cell of module 01 (Tensor)"),
    (_missing, "cannot be read (No such file or directory)"),
])
def test_refusals_leave_the_module_file_untouched(student, tito, tmp_path, make, message):
    before = (student / SOURCE).read_bytes()
    nb_path = make(student, tmp_path)
    for extra in ([], ["--dry-run"]):
        result = tito(student, "module", "import", "01", str(nb_path), *extra)
        assert result.exit_code == 1, result.output
        assert message in " ".join(result.output.split()), result.output
        assert (student / SOURCE).read_bytes() == before and no_backups(student)


def test_changed_test_cell_says_how_to_fix_it(student, tmp_path):
    with pytest.raises(TitoError, match="test-scale") as info:
        notebook_import.plan(student, get_module("01"), _changed_test(student, tmp_path))
    assert "must stay as released" in info.value.hint and "unchanged" in info.value.hint


def test_a_student_notebook_in_the_reference_repository_is_refused_with_a_hint(fake_repo, tmp_path):
    text = student_text(get_module("01"), (fake_repo / SOURCE).read_text(encoding="utf-8"))
    nb_path = write_nb(tmp_path / "01_tensor.ipynb", through_nbgrader(generated(text)))
    with pytest.raises(TitoError, match="no '### BEGIN SOLUTION'") as info:
        notebook_import.plan(fake_repo, get_module("01"), nb_path)
    assert "reference repository" in info.value.hint


# ------------------------------------------------------------------------------------------------
# The real nbgrader (instructor extra)
# ------------------------------------------------------------------------------------------------

@needs_nbgrader
@pytest.mark.slow
def test_the_real_nbgrader_release_notebook(fake_repo, student, tito, tmp_path, monkeypatch):
    """nbgrader's own student notebook: every cell as the student edition has it except the solution
    cells, where nbgrader wrote its stubs (`# YOUR CODE HERE` / `raise NotImplementedError()`) instead
    of tito's; it passes every check and imports."""
    module = get_module("01")
    course = tmp_path / "course"
    nbc.init(course)
    with monkeypatch.context() as mp:
        mp.setattr(sys, "executable", PYTHON)  # nbgrader's command is next to it
        nbc.generate(fake_repo, course, [module])
    released_nb = course / "release" / module.name / f"{module.name}.ipynb"
    assert '"checksum"' in released_nb.read_text(encoding="utf-8")  # nbgrader's keys are there
    plan = notebook_import.plan(student, module, released_nb)
    ours = notebook.parse_text((student / released_copy(module)).read_text(encoding="utf-8"))[1]
    theirs = notebook.parse_text(plan.text)[1]
    assert [(c.kind, c.metadata) for c in theirs] == [(c.kind, c.metadata) for c in ours]
    differ = [c.grade_id for c, o in zip(theirs, ours) if c.lines != o.lines]
    assert differ == ["tensor-class"] and "# YOUR CODE HERE" in plan.text
    assert plan.text.split("# %%")[0] == (student / SOURCE).read_text(encoding="utf-8").split("# %%")[0]
    result = tito(student, "module", "import", "01", str(released_nb))
    assert result.exit_code == 0, result.output
    assert (student / SOURCE).read_text(encoding="utf-8") == plan.text
