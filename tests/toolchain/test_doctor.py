"""`tito system doctor` lists every problem of issue 7 at once, each with a fix, and never crashes."""

from __future__ import annotations

import json

from tito.run import health

from .conftest import clean_python
from .test_isolation import editable_install


def test_doctor_lists_every_problem_with_a_fix(fake_repo, tito, tmp_path, monkeypatch):
    dest = tmp_path / "student"
    assert tito(fake_repo, "release", "student", str(dest)).exit_code == 0
    (dest / ".tito").mkdir(exist_ok=True)
    (dest / ".tito" / "progress.json").write_text(json.dumps(
        {"version": 1, "modules": {"01": {"completed": 5}}, "milestones": {}, "hints": {"01": {"add": 0}}}))
    source = dest / "modules/source/01_tensor/01_tensor_dev.py"
    source.write_bytes(source.read_bytes() + b"# caf\xe9\n")
    (dest / "modules/locked_cells.json").unlink()
    monkeypatch.setenv("PYTHONPATH", editable_install(tmp_path, fake_repo))  # the reference's install
    monkeypatch.setattr("sys.executable", clean_python())

    result = tito(dest, "system", "doctor")
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    text = " ".join(result.output.split())
    for expected in ("modules.01.completed must be an ISO date string", "hints.01.add must be a whole number",
                     "01_tensor_dev.py line", "byte 0xe9 is not UTF-8",
                     "modules/locked_cells.json is missing",
                     f"`tinytorch` to {fake_repo / 'tinytorch'}", "will not test or grade here"):
        assert expected in text, expected
    problems = [ln for ln in result.output.splitlines() if ln.startswith("problem:")]
    fixes = [ln for ln in result.output.splitlines() if ln.strip().startswith("fix:")]
    assert len(problems) >= 4 and len(fixes) >= len(problems)
    assert f"{len(problems)} problem(s) found." in text


def test_a_check_that_breaks_is_reported_not_raised(fake_repo, tito, monkeypatch):
    def broken(base):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(health, "CHECKS", (*health.CHECKS, ("example", broken)))
    result = tito(fake_repo, "system", "doctor")
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "the example check could not run: RuntimeError: disk on fire" in result.output


def _progress(repo, data) -> object:
    path = repo / ".tito" / "progress.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def test_an_unreadable_progress_file_is_not_called_corrupted_and_fix_leaves_it(fake_repo, tito, monkeypatch):
    path = _progress(fake_repo, {"version": 1, "modules": {"01": {"completed": "2025-01-31T10:00:00"}}})
    before = path.read_bytes()
    real = type(path).read_text

    def denied(self, *args, **kwargs):  # what a file of another user, mode 0600, gives (root reads anything)
        if self.name == "progress.json":
            raise PermissionError(13, "Permission denied", str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(type(path), "read_text", denied)
    for args in (("system", "doctor"), ("system", "doctor", "--fix"), ("module", "status")):
        result = tito(fake_repo, *args)
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit), (args, result.output)
        text = " ".join(result.output.split())
        assert "permission denied" in text and "chmod u+rw" in text and "corrupted" not in text, text
    assert path.read_bytes() == before and not (fake_repo / ".tito" / "backups").exists()


def test_a_progress_file_from_a_newer_tito_is_left_alone(fake_repo, tito):
    path = _progress(fake_repo, {"version": 2, "modules": {}, "milestones": {}, "badges": {}})
    before = path.read_bytes()
    for args in (("system", "doctor"), ("system", "doctor", "--fix")):
        result = tito(fake_repo, *args)
        text = " ".join(result.output.split())
        assert result.exit_code == 1 and "written by a newer tito (progress version 2" in text, text
        assert "Update tito" in text and "corrupted" not in text
    assert path.read_bytes() == before


def test_the_file_fix_saved_can_be_restored(fake_repo, tito):
    broken = {"version": 1, "modules": {"01": {"completed": "2025-01-31T10:00:00"}, "02": {"completed": 5}},
              "milestones": {}}
    path = _progress(fake_repo, broken)
    fixed = tito(fake_repo, "system", "doctor", "--fix")
    saved = next((fake_repo / ".tito" / "backups").glob("progress.*.json"))
    assert saved.name in "".join(fixed.output.split())
    assert json.loads(path.read_text())["modules"]["02"] == {}  # the bad date dropped

    restored = tito(fake_repo, "system", "doctor", "--restore", saved.name)
    assert json.loads(path.read_text()) == broken  # back as it was: doctor reports its problem again
    assert f"Restored {saved.name}" in restored.output and "modules.02.completed" in restored.output
    assert len(list(saved.parent.glob("progress.*.json"))) == 2  # the fixed file was saved first
    wrong = tito(fake_repo, "system", "doctor", "--restore", "../progress.json")
    assert wrong.exit_code == 1 and "no saved progress file" in wrong.output
