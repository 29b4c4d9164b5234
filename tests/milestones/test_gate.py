"""A milestone script run before its modules are complete stops with tito's message and exit 2.

Each test works in a temporary copy of the repository (tito, milestones, the package) with some
package files removed or broken, and runs the script the way a student would.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tito.registry import get_milestone
from tito.run.milestones import needs_modules
from tito.state.progress import Progress

ROOT = Path(__file__).resolve().parents[2]
M04 = get_milestone("M04")
SCRIPT = f"milestones/{M04.folder}/{M04.scripts[0]}"
ENV = {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, "CI": "1"}


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    skip = shutil.ignore_patterns("__pycache__", "*.png")
    for folder in ("tito", "milestones", "tinytorch"):
        shutil.copytree(ROOT / folder, repo / folder, ignore=skip)
    (repo / "modules").mkdir()
    return repo


def run(repo: Path, *command: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *command], cwd=repo, env=ENV, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)


def test_script_and_cli_give_the_same_message_and_exit_2(copy):
    (copy / "tinytorch" / "optimizers.py").unlink()
    (copy / "tinytorch" / "training.py").unlink()
    progress = Progress(copy)
    for number in M04.requires:
        if number not in ("06", "07"):
            progress.mark_completed(number)
    progress.save()
    message = needs_modules(M04, ["06", "07"]).message
    assert "needs module(s) 06, 07 completed first" in message and "tito module complete" in message

    script = run(copy, SCRIPT)
    assert script.returncode == 2, script.stdout + script.stderr
    assert message in script.stderr and "Traceback" not in script.stderr + script.stdout

    cli = run(copy, "-m", "tito", "milestone", "run", "M04")
    assert cli.returncode == 2, cli.stdout + cli.stderr
    assert message in cli.stderr and "Traceback" not in cli.stderr + cli.stdout


def test_forced_cli_run_reaches_the_script_s_gate(copy):
    """--force skips tito's progress check; the script's own check still stops it cleanly."""
    (copy / "tinytorch" / "spatial.py").unlink()
    cli = run(copy, "-m", "tito", "milestone", "run", "M04", "--force")
    assert cli.returncode == 1, cli.stdout + cli.stderr
    assert needs_modules(M04, ["09"]).message in cli.stdout  # the script's stderr, streamed
    assert "exit code 2" in cli.stderr and "Traceback" not in cli.stdout + cli.stderr


def test_a_package_file_that_does_not_import_is_named(copy):
    (copy / "tinytorch" / "spatial.py").write_text("def broken(:\n")
    script = run(copy, SCRIPT)
    assert script.returncode == 2, script.stdout + script.stderr
    assert "tinytorch/spatial.py (module 09) does not import: SyntaxError" in script.stderr
    assert "tito module complete 09" in script.stderr and "Traceback" not in script.stderr

