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
