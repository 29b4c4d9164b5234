"""A broken progress file gives a clear error naming it and the way out, and the way out works."""

from __future__ import annotations

import json

import pytest

from tito.state.progress import STATE_FILE, Progress, StateError

from .conftest import run_tito

BROKEN = {"not json": "{not json", "older version": json.dumps({"version": 0, "modules": {}}),
          "wrong shape": json.dumps({"version": 1, "modules": []})}


def test_progress_round_trips(fake_repo):
    progress = Progress.load(fake_repo)
    progress.mark_started("01")
    progress.mark_completed("01")
    progress.record_milestone("M01", True)
    progress.save()
    again = Progress.load(fake_repo)
    assert again.completed("01") and again.started("01") and again.milestone("M01")["passed"] is True
    assert json.loads((fake_repo / STATE_FILE).read_text())["version"] == 1


@pytest.mark.parametrize("content", BROKEN.values(), ids=BROKEN.keys())
def test_broken_state_file_is_a_clear_error(fake_repo, tito, content):
    (fake_repo / STATE_FILE).parent.mkdir()
    (fake_repo / STATE_FILE).write_text(content)
    with pytest.raises(StateError):
        Progress.load(fake_repo)
    result = run_tito(fake_repo, "module", "status")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert str(fake_repo / STATE_FILE) in result.stderr and "tito system doctor --fix" in result.stderr
    for command in (["checkpoint", "status"], ["milestone", "status"], ["module", "complete", "01"],
                    ["system", "info"]):
        result = tito(fake_repo, *command)
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit), command
        assert str(fake_repo / STATE_FILE) in result.output and "tito system doctor --fix" in result.output


def test_doctor_fix_moves_the_file_aside_and_starts_fresh(fake_repo, tito):
    (fake_repo / STATE_FILE).parent.mkdir()
    (fake_repo / STATE_FILE).write_text("{not json")
    assert tito(fake_repo, "module", "status").exit_code == 1
    doctor = tito(fake_repo, "system", "doctor")
    assert doctor.exit_code == 1 and "corrupted" in doctor.output and "--fix" in doctor.output
    fixed = tito(fake_repo, "system", "doctor", "--fix")
    assert "Saved the broken progress file" in fixed.output and "starting fresh" in fixed.output
    assert not (fake_repo / STATE_FILE).exists()
    assert [p.read_text() for p in (fake_repo / ".tito" / "backups").glob("progress.*.json")] == ["{not json"]
    assert tito(fake_repo, "module", "status").exit_code == 0
