"""The command tree: help everywhere, plain output when piped, and docs that only name real commands."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from tito import cli

from .conftest import CI_ENV, REPO, run_tito

ANSI_OR_BOX = re.compile(r"\x1b\[|[\u2500-\u257f]")


def command_tree(app: typer.Typer, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], bool]:
    """Every command path of a Typer app -> whether it is a group."""
    tree: dict[tuple[str, ...], bool] = {}
    for info in app.registered_commands:
        tree[prefix + (info.name or info.callback.__name__.replace("_", "-"),)] = False
    for group in app.registered_groups:
        path = prefix + (group.name,)
        tree[path] = True
        tree.update(command_tree(group.typer_instance, path))
    return tree


TREE = command_tree(cli.app)


def test_python_dash_m_tito_help():
    result = subprocess.run([sys.executable, "-m", "tito", "--help"], cwd=REPO, env=CI_ENV,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    for noun in ("module", "milestone", "checkpoint", "system", "export", "release"):
        assert noun in result.stdout


@pytest.mark.parametrize("path", sorted(TREE), ids=" ".join)
def test_every_command_has_help(tito, path):
    result = tito(REPO, *path, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output and not ANSI_OR_BOX.search(result.output)


def test_output_is_plain_when_piped(fake_repo):
    env = {k: v for k, v in CI_ENV.items() if k != "CI"}  # not a terminal is enough
    for args in (["module", "list"], ["module", "--help"], ["milestone", "list"], ["checkpoint", "status"]):
        result = subprocess.run([sys.executable, "-m", "tito", *args], cwd=fake_repo, env=env,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert not ANSI_OR_BOX.search(result.stdout + result.stderr), args


def test_works_from_a_subfolder(fake_repo):
    result = run_tito(fake_repo / "tests" / "01_tensor", "module", "list")
    assert result.returncode == 0 and "not started" in result.stdout


def test_no_arguments_shows_help_and_bad_arguments_fail(tito):
    assert "Usage:" in tito(REPO).output
    assert tito(REPO, "module", "complete").exit_code != 0
    assert tito(REPO, "module", "nonsense").exit_code != 0


def _code_snippets(path: Path) -> list[str]:
    """Inline code spans and fenced blocks; in .py files, of the comment (markdown) lines."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".py":
        comments = [ln for ln in text.splitlines() if ln.lstrip().startswith("#")]
        text = "\n".join(re.sub(r"^\s*# ?", "", ln) for ln in comments)
    blocks = re.findall(r"```[^\n]*\n(.*?)```", text, flags=re.S)
    rest = re.sub(r"```.*?```", "", text, flags=re.S)
    return blocks + re.findall(r"`([^`\n]+)`", rest)


def _documents() -> list[Path]:
    found = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    found += sorted((REPO / "milestones").rglob("README.md")) + sorted((REPO / "modules").rglob("*.py"))
    return [p for p in found if p.is_file()]


def test_docs_only_mention_commands_that_exist():
    mention = re.compile(r"(?<![\w./-])tito\s+([a-z][\w-]*)(?:[ \t]+([a-z][\w-]*))?")
    wrong, seen = [], 0
    for doc in _documents():
        for snippet in _code_snippets(doc):
            for noun, verb in mention.findall(snippet):
                seen += 1
                if (noun,) not in TREE:
                    wrong.append(f"{doc.relative_to(REPO)}: tito {noun}")
                elif TREE[(noun,)] and verb and (noun, verb) not in TREE:
                    wrong.append(f"{doc.relative_to(REPO)}: tito {noun} {verb}")
    assert seen > 20 and wrong == []


def test_a_tito_folder_that_is_a_file_gives_a_message_not_a_traceback(fake_repo, tito):
    (fake_repo / ".tito").write_text("not a folder\n")
    for args in (("module", "start", "01"), ("module", "reset", "01"), ("module", "test", "01")):
        result = tito(fake_repo, *args)
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit), (args, result.output)
        assert "cannot write or read" in result.output and ".tito" in result.output


def test_export_in_the_student_edition_refuses_an_untested_write(fake_repo, tito, tmp_path):
    dest = tmp_path / "student"
    assert tito(fake_repo, "release", "student", str(dest)).exit_code == 0
    result = tito(dest, "export", "01")
    assert result.exit_code == 1 and "only through `tito module complete NN`" in result.output
    assert not (dest / "tinytorch/tensor.py").exists()
    assert tito(dest, "export", "--check").exit_code == 0
