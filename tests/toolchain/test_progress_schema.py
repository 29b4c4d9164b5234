"""The whole progress file is checked against its schema: a bad entry is named by its path,
every command refuses it, and `tito system doctor --fix` keeps the valid entries."""

from __future__ import annotations

import json

import pytest

from tito.state import progress as state
from tito.state.progress import STATE_FILE, Progress, StateError

GOOD = {"version": 1,
        "modules": {"01": {"started": "2025-01-31T10:00:00", "completed": "2025-01-31T11:00:00"},
                    "02": {"started": "2025-02-01T09:00:00"}},
        "milestones": {"M01": {"passed": True, "date": "2025-02-02T12:00:00"}},
        "hints": {"01": {"Tensor.__init__": 2, "Tensor.add": 1}}}


def with_entry(path: str, value: object) -> dict:
    """GOOD with the value at `path` ("modules/01/completed") replaced or added."""
    data = json.loads(json.dumps(GOOD))
    *parents, last = path.split("/")
    node = data
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return data


BAD = {
    "completed is a number": (with_entry("modules/01/completed", 5), "modules.01.completed"),
    "started is not a date": (with_entry("modules/02/started", "yesterday"), "modules.02.started"),
    "module key 1": (with_entry("modules/1", {"started": "2025-01-31T10:00:00"}), "modules.1"),
    "module key 99": (with_entry("modules/99", {}), "modules.99"),
    "module entry is a list": (with_entry("modules/03", ["done"]), "modules.03"),
    "unknown module field": (with_entry("modules/01/score", 10), "modules.01.score"),
    "milestone without passed": (with_entry("milestones/M02", {"date": "2025-02-02T12:00:00"}),
                                 "milestones.M02.passed"),
    "milestone passed is a string": (with_entry("milestones/M01/passed", "yes"), "milestones.M01.passed"),
    "milestone date is a number": (with_entry("milestones/M01/date", 20250202), "milestones.M01.date"),
    "milestone key": (with_entry("milestones/M9", {"passed": True, "date": "2025-02-02"}), "milestones.M9"),
    "hint level 0": (with_entry("hints/01/Tensor.add", 0), "hints.01.Tensor.add"),
    "hint level true": (with_entry("hints/01/relu", True), "hints.01.relu"),
    "hints for module 1": (with_entry("hints/1", {"relu": 1}), "hints.1"),
    "hints not an object": (with_entry("hints", [1]), "hints"),
    "unknown section": (with_entry("score", 3), "score"),
}


def write(repo, data) -> None:
    (repo / STATE_FILE).parent.mkdir(exist_ok=True)
    (repo / STATE_FILE).write_text(json.dumps(data))


def test_a_complete_valid_file_loads(fake_repo):
    write(fake_repo, GOOD)
    progress = Progress.load(fake_repo)
    assert progress.completed("01") == "2025-01-31T11:00:00"
    assert progress.hint_level("01", "Tensor.__init__") == 2
    assert state.examine(GOOD) == (GOOD, [])


@pytest.mark.parametrize(("data", "path"), BAD.values(), ids=BAD.keys())
def test_each_bad_entry_is_named_by_its_path(fake_repo, data, path):
    write(fake_repo, data)
    with pytest.raises(StateError) as caught:
        Progress.load(fake_repo)
    assert str(fake_repo / STATE_FILE) in caught.value.message and f": {path} " in caught.value.message
    assert "tito system doctor --fix" in caught.value.hint


@pytest.mark.parametrize("command", [["module", "status"], ["module", "list"], ["module", "start", "01"],
                                     ["module", "complete", "01"], ["checkpoint", "status"],
                                     ["milestone", "status"], ["system", "info"]], ids=" ".join)
def test_every_command_reports_the_bad_entry(fake_repo, tito, command):
    write(fake_repo, with_entry("modules/01/completed", 5))
    result = tito(fake_repo, *command)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "modules.01.completed must be an ISO date string" in result.output
    assert str(fake_repo / STATE_FILE) in result.output and "found 5" in result.output


def test_doctor_reports_and_fix_keeps_the_valid_entries(fake_repo, tito):
    bad = with_entry("modules/01/completed", 5)
    bad["milestones"]["M02"] = {"date": "2025-02-02T12:00:00"}
    bad["hints"]["1"] = {"relu": 1}
    write(fake_repo, bad)
    doctor = tito(fake_repo, "system", "doctor")
    assert doctor.exit_code == 1 and "modules.01.completed" in doctor.output and "--fix" in doctor.output
    fixed = tito(fake_repo, "system", "doctor", "--fix")
    assert fixed.exit_code == 0, fixed.output
    for dropped in ("modules.01.completed", "milestones.M02.passed is missing", "hints.1"):
        assert f"dropped {dropped}" in fixed.output
    assert "Kept every valid entry" in fixed.output
    kept = json.loads((fake_repo / STATE_FILE).read_text())
    assert kept["modules"] == {"01": {"started": "2025-01-31T10:00:00"}, "02": GOOD["modules"]["02"]}
    assert kept["milestones"] == GOOD["milestones"] and kept["hints"] == GOOD["hints"]
    saved = list((fake_repo / ".tito" / "backups").glob("progress.*.json"))
    assert [json.loads(p.read_text()) for p in saved] == [bad]
    assert tito(fake_repo, "module", "status").exit_code == 0


def test_hint_levels_round_trip(fake_repo):
    progress = Progress.load(fake_repo)
    progress.set_hint_level("01", "Tensor.add", 1)
    progress.set_hint_level("01", "Tensor.add", 2)
    progress.set_hint_level("02", "relu", 1)
    progress.save()
    again = Progress.load(fake_repo)
    assert again.hint_level("01", "Tensor.add") == 2 and again.hint_level("01", "other") == 0
    again.reset_hints("01", "Tensor.add")
    again.reset_hints("02")
    assert again.data["hints"] == {}
    with pytest.raises(ValueError):
        again.set_hint_level("01", "Tensor.add", 0)


@pytest.mark.parametrize("version", [True, 1.0, "1"])
def test_a_version_that_only_looks_like_1_is_refused(version):
    from tito.state.progress import examine

    assert examine({"version": version})[1], f"version {version!r} was accepted"


@pytest.mark.parametrize("date", ["20250131", "2025-01-31T10:00:00Z", "2025-W05"])
def test_dates_are_checked_the_same_on_every_python(date):
    from tito.state.progress import examine

    problems = examine({"version": 1, "modules": {"01": {"completed": date}}, "milestones": {}})[1]
    assert problems and "modules.01.completed" in problems[0]
