"""`tito milestone`, `tito checkpoint` and `tito system` in a fake repository."""

from __future__ import annotations

import json

from tito.registry import get_milestone
from tito.state.progress import STATE_FILE, Progress


def add_milestone(repo, first="print('forward pass ok')", second="print('trained ok')"):
    folder = repo / get_milestone("M01").path
    folder.mkdir(parents=True)
    (folder / "01_rosenblatt_forward.py").write_text(first + "\n")
    (folder / "02_rosenblatt_trained.py").write_text(second + "\n")


def milestones(repo) -> dict:
    return json.loads((repo / STATE_FILE).read_text())["milestones"]


def test_list_marks_missing_scripts_as_not_available(fake_repo, tito):
    add_milestone(fake_repo)
    output = tito(fake_repo, "milestone", "list").output
    m01, m05 = (next(ln for ln in output.splitlines() if ln.startswith(key)) for key in ("M01", "M05"))
    assert "available" in m01 and "not available" not in m01 and "not available yet" in m05


def test_run_needs_completed_modules_unless_forced(fake_repo, tito):
    add_milestone(fake_repo)
    result = tito(fake_repo, "milestone", "run", "M01")
    assert result.exit_code == 2 and "needs module(s) 01, 02, 03, 04, 05, 06, 07" in result.output
    result = tito(fake_repo, "milestone", "run", "M01", "--force")
    assert result.exit_code == 0, result.output
    assert "forward pass ok" in result.output and "trained ok" in result.output
    assert milestones(fake_repo)["M01"]["passed"] is True
    assert "passed" in tito(fake_repo, "milestone", "status").output


def test_failing_script_fails_the_milestone(fake_repo, tito):
    add_milestone(fake_repo, first="import sys; print('diverged'); sys.exit(1)")
    progress = Progress(fake_repo)
    for number in ("01", "02", "03", "04", "05", "06", "07"):
        progress.mark_completed(number)
    progress.save()
    result = tito(fake_repo, "milestone", "run", "M01")
    assert result.exit_code == 1
    assert "diverged" in result.output and "trained ok" not in result.output
    assert "01_rosenblatt_forward.py failed (exit code 1)" in result.output
    assert milestones(fake_repo)["M01"]["passed"] is False


def test_run_all_skips_what_cannot_run_yet(fake_repo, tito):
    add_milestone(fake_repo)
    result = tito(fake_repo, "milestone", "run", "--all")
    assert result.exit_code == 0, result.output
    assert "Skipping M01 (Perceptron): not available yet (module(s) 02, 03, 04, 05, 06, 07 not written" \
        in result.output
    assert "Skipping M05 (Transformer): not available yet (no scripts yet)" in result.output


def test_unavailable_milestone_is_refused(fake_repo, tito):
    result = tito(fake_repo, "milestone", "run", "M05")
    assert result.exit_code == 1 and "not available yet" in result.output


def test_checkpoint_status_and_test(fake_repo, tito):
    assert tito(fake_repo, "checkpoint", "test", "01").exit_code == 1  # nothing exported yet
    assert tito(fake_repo, "module", "complete", "01").exit_code == 0
    status = tito(fake_repo, "checkpoint", "status").output
    line = next(ln for ln in status.splitlines() if ln.startswith("01"))
    assert "I can build and manipulate tensors" in line and "achieved" in line
    assert "1/20 capabilities achieved" in status
    result = tito(fake_repo, "checkpoint", "test", "01")
    assert result.exit_code == 0 and "2 passed, 0 failed" in result.output


def test_system_info(fake_repo, tito):
    result = tito(fake_repo, "system", "info")
    assert result.exit_code == 0, result.output
    for text in ("Python", "NumPy", "BLAS", "CPUs", "(reference)", "Modules written  1/20",
                 "0/20 modules completed"):
        assert text in result.output


def test_doctor_passes_then_names_a_broken_module_file(fake_repo, tito):
    result = tito(fake_repo, "system", "doctor")
    assert result.exit_code == 0, result.output
    source = fake_repo / "modules/source/01_tensor/01_tensor_dev.py"
    text = source.read_text()
    line = text[:text.index("def scale(self, factor):")].count("\n") + 1
    source.write_text(text.replace("def scale(self, factor):", "def scale(self, factor)"))
    result = tito(fake_repo, "system", "doctor")
    assert result.exit_code == 1
    assert f"01_tensor_dev.py line {line}" in result.output and "fix:" in result.output
