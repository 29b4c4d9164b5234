"""pipeline.complete/test return a Result (steps, what became of the package and the record) and
print nothing themselves; every command taking "a module number or --all" shares one helper."""

from __future__ import annotations

import pytest

from tito.cli.base import modules_or_all
from tito.errors import TitoError
from tito.registry import get_module
from tito.run import pipeline
from tito.run.staging import STAGING, clean_stale

from .conftest import add_module, clean_python


@pytest.fixture(autouse=True)
def _own_interpreter(monkeypatch):
    """Children run with an interpreter that sees no other checkout's tinytorch (as in a student venv)."""
    monkeypatch.setattr("sys.executable", clean_python())


def test_complete_returns_what_it_did_and_prints_nothing(fake_repo, capsys):
    result = pipeline.complete(fake_repo, get_module("01"), 60)
    assert capsys.readouterr().out == ""
    assert [s.name for s in result.steps] == ["Metadata", "Inline tests", "Package tests (tests/01_tensor)"]
    assert [s.ok for s in result.steps] == [True, True, True]
    assert result.steps[1].summary == "3 passed, 0 failed (10/10 points)"
    assert result.ok and result.exported and result.recorded and not result.had_previous
    assert result.notes[0] == "Checkpoint achieved: I can build and manipulate tensors"
    assert result.package_note == "tinytorch/tensor.py holds the new, tested export."


def test_a_failing_step_stops_the_pipeline_and_says_what_was_kept(fake_repo):
    source = fake_repo / "modules/source/01_tensor/01_tensor_dev.py"
    source.write_text(source.read_text().replace("self.data + other.data", "self.data - other.data"))
    result = pipeline.complete(fake_repo, get_module("01"), 60)
    assert [s.name for s in result.steps] == ["Metadata", "Inline tests"] and not result.steps[1].ok
    assert not (result.ok or result.exported or result.recorded)
    assert result.package_note == "tinytorch/tensor.py was not created."
    failed = result.steps[1].report.failed
    assert [o.name for o in failed] == ["test_unit_add", "test_module"]
    assert failed[1].check == "test_unit_add" and failed[1].statement.startswith("assert result.data")


def test_module_test_judges_the_file_as_it_is_now_and_changes_nothing(fake_repo):
    """The suite runs against a staged export of the current file, not an older export."""
    package = fake_repo / "tinytorch/tensor.py"
    assert not package.exists()
    result = pipeline.test(fake_repo, get_module("01"), 60)
    assert result.ok and result.action == "test" and not (result.exported or result.recorded)
    assert not package.exists() and not (fake_repo / ".tito/progress.json").exists()
    package.write_text("raise ImportError('an old, broken export')\n")
    assert pipeline.test(fake_repo, get_module("01"), 60).ok  # the old export is not what is tested
    assert package.read_text() == "raise ImportError('an old, broken export')\n"


def test_module_number_or_all(fake_repo):
    add_module(fake_repo, "02_activations")
    assert [m.number for m in modules_or_all(fake_repo, None, True, "tito x 01")] == ["01", "02"]
    assert [m.number for m in modules_or_all(fake_repo, "2", False, "tito x 01")] == ["02"]
    for number, all_ in ((None, False), ("01", True)):
        with pytest.raises(TitoError, match="Give a module number or --all"):
            modules_or_all(fake_repo, number, all_, "tito x 01")


def test_stale_staging_folders_are_removed_but_not_live_ones(fake_repo):
    from tito.run import staging

    with staging.staged(fake_repo, get_module("01").export_target, "x = 1\n") as live:
        dead = fake_repo / STAGING / "123-dead"
        dead.mkdir()
        (dead / staging.LOCK).write_text("")  # its owner was killed: nobody holds the lock
        assert clean_stale(fake_repo) == [dead]
        assert live.file.read_text() == "x = 1\n" and not dead.exists()
    assert not live.folder.exists()


def test_the_listener_hears_each_step_as_it_finishes(fake_repo):
    heard = []
    result = pipeline.complete(fake_repo, get_module("01"), 60, listener=heard.append)
    assert heard == result.steps and [s.name for s in heard][0] == "Metadata"


def test_a_file_saved_while_it_is_tested_is_not_promoted(fake_repo, monkeypatch):
    """What is promoted is exactly the text that was validated and tested."""
    source = fake_repo / "modules/source/01_tensor/01_tensor_dev.py"
    real = pipeline.run_suite

    def suite_then_an_editor_saves(*args, **kwargs):
        step = real(*args, **kwargs)
        source.write_text(source.read_text() + "\n# saved by an editor meanwhile\n")
        return step

    monkeypatch.setattr(pipeline, "run_suite", suite_then_an_editor_saves)
    result = pipeline.complete(fake_repo, get_module("01"), 60)
    assert not (result.ok or result.exported or result.recorded)
    last = result.steps[-1]
    assert last.name == "Unchanged source" and "changed while it was tested" in last.summary
    assert not (fake_repo / "tinytorch/tensor.py").exists()
