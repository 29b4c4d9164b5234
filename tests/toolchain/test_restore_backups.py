"""`tito module reset NN --restore X` restores only a listed backup of module NN."""

from __future__ import annotations

import pytest

from .conftest import add_module

SOURCE = "modules/source/01_tensor/01_tensor_dev.py"


@pytest.fixture
def repo_with_backups(fake_repo, tito):
    """Module 01 and 02 each reset once: one backup of each in .tito/backups/."""
    add_module(fake_repo, "02_activations")
    for number in ("01", "02"):
        assert tito(fake_repo, "module", "reset", number).exit_code == 0
    return fake_repo


def refused(tito, repo, name: str, *fragments: str) -> None:
    before = (repo / SOURCE).read_bytes()
    result = tito(repo, "module", "reset", "01", "--restore", name)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    for fragment in fragments:
        assert fragment in result.output
    assert "tito module reset 01 --list-backups" in result.output
    assert (repo / SOURCE).read_bytes() == before
    backups = (repo / ".tito" / "backups").glob("01_tensor_dev.*.py")
    assert len([p for p in backups if not p.is_symlink()]) == 1  # no new backup was taken


def test_another_modules_backup_is_refused(repo_with_backups, tito):
    other = next((repo_with_backups / ".tito" / "backups").glob("02_activations_dev.*.py"))
    refused(tito, repo_with_backups, other.name,
            f"{other.name} is a backup of 02_activations, not of module 01")


def test_a_path_on_disk_is_refused(repo_with_backups, tito, tmp_path):
    outside = tmp_path / "01_tensor_dev.20250101-000000-000000.py"
    outside.write_text("print('not a backup')\n")
    refused(tito, repo_with_backups, str(outside), "takes a backup name as listed, not a path")
    own = next((repo_with_backups / ".tito" / "backups").glob("01_tensor_dev.*.py"))
    refused(tito, repo_with_backups, str(own), "not a path")  # even its own backup, given as a path


@pytest.mark.parametrize("name", ["../backups/{own}", "../../" + SOURCE, "..", "./{own}",
                                  "sub/{own}", "{own}/../{own}"])
def test_dot_dot_tricks_are_refused(repo_with_backups, tito, name):
    own = next((repo_with_backups / ".tito" / "backups").glob("01_tensor_dev.*.py")).name
    refused(tito, repo_with_backups, name.format(own=own), "not a path")


def test_names_that_are_no_backup_of_this_module_are_refused(repo_with_backups, tito):
    refused(tito, repo_with_backups, "progress.json", "is not a backup name")
    refused(tito, repo_with_backups, "01_tensor_dev.20990101-000000-000000.py", "No backup")
    backups = repo_with_backups / ".tito" / "backups"
    link = backups / "01_tensor_dev.20990101-000000-000001.py"
    link.symlink_to(repo_with_backups / "README.md")
    refused(tito, repo_with_backups, link.name, "No backup")
    assert link.name not in tito(repo_with_backups, "module", "reset", "01", "--list-backups").output


def test_a_listed_backup_of_the_module_is_restored(repo_with_backups, tito):
    own = next((repo_with_backups / ".tito" / "backups").glob("01_tensor_dev.*.py"))
    listed = tito(repo_with_backups, "module", "reset", "01", "--list-backups").output
    assert own.name in listed and "02_activations" not in listed
    result = tito(repo_with_backups, "module", "reset", "01", "--restore", own.name)
    assert result.exit_code == 0, result.output
    assert (repo_with_backups / SOURCE).read_text() == own.read_text()


def test_a_backup_that_is_not_utf8_comes_back_byte_for_byte(fake_repo, tito):
    """doctor suggests a reset for a non-UTF-8 file; the backup it takes must be restorable."""
    source = fake_repo / SOURCE
    broken = source.read_bytes().replace(b"# %%", b"# caf\xe9\n# %%", 1)
    own = fake_repo / ".tito" / "backups" / "01_tensor_dev.20261130-094209-727657.py"
    own.parent.mkdir(parents=True)
    own.write_bytes(broken)  # what `tito module reset 01` backs up from a student's non-UTF-8 file
    result = tito(fake_repo, "module", "reset", "01", "--restore", own.name)
    assert result.exit_code == 0, result.output
    assert source.read_bytes() == broken
