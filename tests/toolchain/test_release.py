"""`tito release`: the student edition holds no solution and has a fresh one-commit history."""

from __future__ import annotations

import json
import subprocess

from tito.course import checksums, locks, notebook
from tito.registry import get_module

from .conftest import add_module

SOLUTION_LINES = ("summed_fixture_values = self.data + other.data", "return Tensor(np.maximum(x.data, 0.0))")


def all_text(folder) -> str:
    return "\n".join(p.read_text(errors="ignore") for p in folder.rglob("*")
                     if p.is_file() and ".git" not in p.relative_to(folder).parts)


def test_student_edition(fake_repo, tito, tmp_path):
    add_module(fake_repo, "02_activations")
    assert tito(fake_repo, "module", "complete", "--all").exit_code == 0  # tinytorch/ now holds solutions
    (fake_repo / ".tito" / "junk.txt").write_text("private")
    dest = tmp_path / "student"
    result = tito(fake_repo, "release", "student", str(dest))
    assert result.exit_code == 0, result.output
    text = all_text(dest)
    assert not any(line in text for line in SOLUTION_LINES)
    source = (dest / "modules/source/01_tensor/01_tensor_dev.py").read_text()
    assert 'raise NotImplementedError("Implement Tensor.add (module 01)' in source
    assert "### BEGIN SOLUTION" not in source and "def test_unit_add" in source
    assert (dest / "modules/.released/01_tensor/01_tensor_dev.py").read_text() == source
    assert sorted(p.name for p in (dest / "tinytorch").iterdir()) == ["__init__.py", "datasets.py"]
    assert not (dest / ".tito").exists()
    assert (dest / "README.md").read_text() == (fake_repo / "docs/STUDENT_README.md").read_text()
    stored = json.loads((dest / locks.LOCK_FILE).read_text())["modules"]
    reference = notebook.parse(fake_repo / get_module("01").source)
    assert stored["01_tensor"] == checksums.locked_checksums(reference)
    log = subprocess.run(["git", "log", "--oneline"], cwd=dest, capture_output=True, text=True, check=True)
    assert len(log.stdout.splitlines()) == 1
    status = subprocess.run(["git", "status", "--porcelain"], cwd=dest, capture_output=True, text=True)
    assert status.stdout == ""


def test_an_nbgrader_course_in_the_repository_stays_out_of_the_edition(fake_repo, tito, tmp_path):
    """The class's gradebook, submissions and feedback (and the course's config) are not course
    material; fake_repo is no git repository, so every file on disk is a candidate."""
    course = fake_repo / "course"
    for rel, text in (("nbgrader_config.py", "c = get_config()\n"), ("gradebook.db", "grades"),
                      ("feedback/alice/01_tensor/01_tensor.html", "alice: 35/60"), ("notes.txt", "private")):
        (course / rel).parent.mkdir(parents=True, exist_ok=True)
        (course / rel).write_text(text)
    dest = tmp_path / "student"
    result = tito(fake_repo, "release", "student", str(dest))
    assert result.exit_code == 0, result.output
    assert not (dest / "course").exists() and (dest / "modules/source/01_tensor/01_tensor_dev.py").is_file()


def test_refuses_a_non_empty_folder_unless_forced(fake_repo, tito, tmp_path):
    dest = tmp_path / "student"
    dest.mkdir()
    (dest / "old.txt").write_text("old")
    result = tito(fake_repo, "release", "student", str(dest))
    assert result.exit_code == 1 and "not empty" in result.output and (dest / "old.txt").exists()
    assert tito(fake_repo, "release", "student", str(dest), "--force").exit_code == 0
    assert not (dest / "old.txt").exists()
    assert tito(fake_repo, "release", "student", str(fake_repo), "--force").exit_code == 1


def test_refuses_when_a_solution_line_would_show(fake_repo, tito, tmp_path):
    notes = "```python\nx = 'caf\xe9'\n  return   Tensor(summed_fixture_values)\n```\n"
    (fake_repo / "docs" / "notes.md").write_bytes(notes.encode("latin-1"))  # any text encoding is read
    hints = fake_repo / "modules/source/01_tensor/hints.md"
    hints.write_text("## Tensor.scale\n### 1. a\nUse return Tensor(self.data * float(factor)) here.\n")
    result = tito(fake_repo, "release", "student", str(tmp_path / "student"))
    assert result.exit_code == 1 and "2 solution line(s) would show" in result.output
    source = "modules/source/01_tensor/01_tensor_dev.py"
    assert (f"docs/notes.md:3: return Tensor(summed_fixture_values)  (solution line from {source}:31)"
            in result.output)
    assert "modules/source/01_tensor/hints.md:3: return Tensor(self.data * float(factor))" in result.output
    assert not (tmp_path / "student").exists()


def test_a_solution_line_in_the_module_file_outside_its_region_is_refused(fake_repo, tito, tmp_path):
    source = fake_repo / "modules/source/01_tensor/01_tensor_dev.py"
    leaky = '"""Every element: return Tensor(self.data * float(factor))"""'
    source.write_text(source.read_text().replace('"""Every element times `factor`."""', leaky))
    result = tito(fake_repo, "release", "student", str(tmp_path / "student"))
    assert result.exit_code == 1
    assert "01_tensor_dev.py:35: return Tensor(self.data * float(factor))" in result.output


def test_lock_writes_checksums_and_check_detects_drift(fake_repo, tito):
    assert tito(fake_repo, "release", "lock", "--check").exit_code == 1
    assert tito(fake_repo, "release", "lock").exit_code == 0
    assert tito(fake_repo, "release", "lock", "--check").exit_code == 0
    source = fake_repo / "modules/source/01_tensor/01_tensor_dev.py"
    source.write_text(source.read_text().replace("[4.0, 6.0]", "[4.0, 6.00]"))
    assert tito(fake_repo, "release", "lock", "--check").exit_code == 1
    result = tito(fake_repo, "module", "complete", "01")
    assert result.exit_code == 1 and "[test-add]: locked cell was changed since release" in result.output
    assert "run `tito release lock`" in result.output


def test_in_the_edition_stubs_fail_reference_passes_and_reset_restores(fake_repo, tito, tmp_path):
    dest = tmp_path / "student"
    assert tito(fake_repo, "release", "student", str(dest)).exit_code == 0
    source = dest / "modules/source/01_tensor/01_tensor_dev.py"
    released = source.read_text()
    result = tito(dest, "module", "complete", "01")
    assert result.exit_code == 1 and "Inline tests: 0 passed, 3 failed (0/10 points)" in result.output
    assert "NotImplementedError: Implement Tensor.add (module 01)" in result.output
    assert not (dest / ".tito" / "progress.json").exists()

    source.write_text((fake_repo / "modules/source/01_tensor/01_tensor_dev.py").read_text())
    result = tito(dest, "module", "complete", "01")
    assert result.exit_code == 0, result.output
    assert "locked cells not checked" not in result.output

    assert tito(dest, "module", "reset", "01").exit_code == 0
    assert source.read_text() == released
    assert len(list((dest / ".tito" / "backups").glob("01_tensor_dev.*.py"))) == 1

    source.write_text(released.replace("[4.0, 6.0]", "[4, 6]"))
    result = tito(dest, "module", "complete", "01")
    assert result.exit_code == 1 and "[test-add]: locked cell was changed since release" in result.output
    assert "`tito module reset 01` restores the released file" in result.output
