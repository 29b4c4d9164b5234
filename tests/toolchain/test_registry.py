"""The registry agrees with the files on disk, and the locked-cell checksums match the sources."""

from __future__ import annotations

import re

import jupytext
import pytest

from tito.course import checksums, locks, notebook
from tito.registry import MILESTONES, MODULES, TIERS, available, get_module

from .conftest import REPO


def test_every_module_folder_is_a_registry_module():
    names = {m.name for m in MODULES}
    for folder in sorted((REPO / "modules" / "source").iterdir()):
        if folder.is_dir() and not folder.name.startswith((".", "_")):
            assert folder.name in names, f"modules/source/{folder.name} is not in tito/registry.py"
            expected = folder / f"{folder.name}_dev.py"
            assert expected.is_file(), f"{folder.name} should hold {expected.name}"


def test_every_module_test_folder_is_a_registry_module():
    names = {m.name for m in MODULES}
    for folder in sorted((REPO / "tests").iterdir()):
        if folder.is_dir() and re.match(r"\d\d_", folder.name):
            assert folder.name in names, f"tests/{folder.name} is not in tito/registry.py"


@pytest.mark.parametrize("module", available(REPO), ids=lambda m: m.name)
def test_every_written_module_ships_its_package_tests(module):
    assert list((REPO / module.tests).glob("test_*.py")), f"{module.tests}/ has no test files"


def test_every_milestone_with_scripts_has_them_and_a_readme():
    for ms in MILESTONES:
        if (REPO / ms.path).is_dir():
            assert (REPO / ms.path / "README.md").is_file(), ms.id
            assert ms.scripts and all((REPO / ms.path / s).is_file() for s in ms.scripts), ms.id


def test_registry_is_consistent():
    assert [m.number for m in MODULES] == [f"{i:02d}" for i in range(1, 21)]
    assert len({m.slug for m in MODULES}) == 20 and {m.tier for m in MODULES} == set(TIERS)
    for m in MODULES:
        assert all(get_module(p).number < m.number for p in m.prerequisites), m.name
    for ms in MILESTONES:
        assert ms.unlocked_by in ms.requires and all(get_module(n) for n in ms.requires)


@pytest.mark.parametrize("module", available(REPO), ids=lambda m: m.name)
def test_parser_agrees_with_jupytext(module):
    ours = notebook.parse(REPO / module.source)
    theirs = jupytext.read(REPO / module.source).cells
    assert len(ours) == len(theirs)
    for cell, other in zip(ours, theirs):
        assert cell.kind == other.cell_type
        assert cell.nbgrader == other.metadata.get("nbgrader")


def test_locked_cell_checksums_match_the_sources():
    stored = locks.load(REPO)
    stale = [m.name for m in available(REPO)
             if stored.get(m.name) != checksums.locked_checksums(notebook.parse(REPO / m.source))]
    assert stale == [], f"{locks.LOCK_FILE} is stale for {stale}: run `tito release lock`"
