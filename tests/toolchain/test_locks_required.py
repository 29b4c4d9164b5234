"""A student edition cannot test or complete a module whose locked-cell checksums are missing;
in the reference repository a missing checksum file stays a warning."""

from __future__ import annotations

import json

import pytest

LOCK_FILE = "modules/locked_cells.json"


@pytest.fixture
def edition(fake_repo, tito, tmp_path):
    dest = tmp_path / "student"
    assert tito(fake_repo, "release", "student", str(dest)).exit_code == 0
    assert (dest / LOCK_FILE).is_file()
    source = dest / "modules/source/01_tensor/01_tensor_dev.py"
    source.write_text((fake_repo / "modules/source/01_tensor/01_tensor_dev.py").read_text())  # solved
    return dest


def refused(tito, dest, *fragments: str) -> None:
    for command in ("complete", "test"):
        result = tito(dest, "module", command, "01")
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
        for fragment in fragments:
            assert fragment in result.output, (command, result.output)
        assert "git checkout -- modules/locked_cells.json" in result.output
        assert "Inline tests" not in result.output  # nothing ran
    assert not (dest / ".tito" / "progress.json").exists()
    doctor = tito(dest, "system", "doctor")
    assert doctor.exit_code == 1 and fragments[0] in doctor.output
    assert "fix: Restore it from your course's student repository" in doctor.output


def test_the_edition_grades_with_its_checksums(edition, tito):
    result = tito(edition, "module", "complete", "01")
    assert result.exit_code == 0, result.output


def test_deleted_checksum_file_refuses(edition, tito):
    (edition / LOCK_FILE).unlink()
    refused(tito, edition, f"{LOCK_FILE} is missing", "tito will not test or complete it")


def test_module_missing_from_the_checksums_refuses(edition, tito):
    data = json.loads((edition / LOCK_FILE).read_text())
    del data["modules"]["01_tensor"]
    (edition / LOCK_FILE).write_text(json.dumps(data))
    refused(tito, edition, f"{LOCK_FILE} has no checksums for 01_tensor")


def test_in_the_reference_a_missing_file_is_a_warning(fake_repo, tito):
    assert not (fake_repo / LOCK_FILE).exists()
    result = tito(fake_repo, "module", "complete", "01")
    assert result.exit_code == 0 and "locked cells not checked" in result.output
    assert tito(fake_repo, "system", "doctor").exit_code == 0


def test_deleting_the_released_copies_too_does_not_switch_the_check_off(edition, tito):
    """A student's file (its regions replaced by their code) says whose it is, whatever folders remain."""
    import shutil

    source = edition / "modules/source/01_tensor/01_tensor_dev.py"
    lines = source.read_text().splitlines(keepends=True)
    markers = ("### BEGIN SOLUTION", "### END SOLUTION")
    source.write_text("".join(ln for ln in lines if ln.strip() not in markers))
    shutil.rmtree(edition / "modules" / ".released")
    (edition / LOCK_FILE).unlink()
    for command in ("complete", "test"):
        result = tito(edition, "module", command, "01")
        assert result.exit_code == 1 and f"{LOCK_FILE} is missing" in result.output, result.output
        assert "Inline tests" not in result.output
