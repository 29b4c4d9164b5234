"""`tito module complete` is a transaction: Ctrl-C, kill -9, a closed pipe or failing tests leave the
previous package file byte for byte, or the new one that passed its tests; never an untested export.

Real subprocesses: a suite test that signals it has started and then sleeps holds tito in the middle
of the package tests, where the signal arrives.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tito.run.staging import STAGING
from tito.state.progress import STATE_FILE, Progress

from .conftest import CI_ENV, run_tito

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX signals and process groups")

SLOW_TEST = '''

def test_slow_so_tito_can_be_interrupted():
    import pathlib, time
    import tinytorch.tensor
    pathlib.Path("suite_started").write_text(tinytorch.tensor.__file__)
    time.sleep({seconds})
'''
EDIT = ("class Tensor:", "class Tensor:  # the new version")


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


@pytest.fixture
def completed_repo(fake_repo: Path, tito) -> Path:
    """Module 01 exported and recorded once (the previous package file), then edited: a new export is due."""
    assert tito(fake_repo, "export", "01").exit_code == 0
    progress = Progress.load(fake_repo)
    progress.mark_completed("01")
    progress.save()
    edit(fake_repo / "modules/source/01_tensor/01_tensor_dev.py", *EDIT)
    return fake_repo


def _as_foreground_job() -> None:
    """Ctrl-C reaches a terminal's foreground job even when this suite runs where SIGINT is ignored
    (a background job of a non-interactive shell, which a child would inherit)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(repo: Path, *args: str) -> subprocess.Popen:
    """`tito module complete 01` in its own session, as a terminal's foreground job."""
    return subprocess.Popen([sys.executable, "-m", "tito", "module", "complete", "01", *args], cwd=repo,
                            env=CI_ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=_as_foreground_job)


def wait_for(path: Path, proc: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert proc.poll() is None, f"tito ended early: {proc.communicate()}"
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.05)


def processes_in(folder: Path) -> list[int]:
    """Live processes other than this one whose working directory is `folder` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if Path(os.readlink(entry / "cwd")) == folder:
                    status = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                    if status != "Z":
                        found.append(int(entry.name))
            except OSError:
                continue
    return found


def no_processes_left(folder: Path, seconds: float = 10) -> bool:
    """True when no process runs in `folder` within `seconds`; else kills them (no orphans) and False."""
    deadline = time.monotonic() + seconds
    while processes_in(folder):
        if time.monotonic() > deadline:
            for pid in processes_in(folder):
                os.kill(pid, signal.SIGKILL)
            return False
        time.sleep(0.1)
    return True


def recorded(repo: Path) -> dict:
    return json.loads((repo / STATE_FILE).read_text())["modules"].get("01", {})


needs_proc = pytest.mark.skipif(not Path("/proc/self/cwd").exists(), reason="needs Linux /proc")


@needs_proc
def test_ctrl_c_during_package_tests_keeps_the_previous_file_and_ends_the_tests(completed_repo):
    repo = completed_repo
    target = repo / "tinytorch" / "tensor.py"
    before, state_before = target.read_bytes(), (repo / STATE_FILE).read_bytes()
    (repo / "tests/01_tensor/test_tensor.py").open("a").write(SLOW_TEST.format(seconds=600))
    proc = start(repo)
    wait_for(repo / "suite_started", proc)
    staged = Path((repo / "suite_started").read_text())
    assert staged.is_relative_to(repo / STAGING), "the suite must test the staged export"
    assert "# the new version" in staged.read_text()
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does: tito's whole foreground group
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert "tinytorch/tensor.py unchanged: the previous tested version is kept" in out + err
    assert "Traceback" not in out + err
    assert target.read_bytes() == before
    assert (repo / STATE_FILE).read_bytes() == state_before
    assert not list((repo / STAGING).iterdir())
    assert no_processes_left(repo), "the package tests outlived tito"


@needs_proc
def test_kill_9_during_package_tests_keeps_the_previous_file_and_kills_the_tests(completed_repo):
    repo = completed_repo
    target = repo / "tinytorch" / "tensor.py"
    before = target.read_bytes()
    suite = repo / "tests/01_tensor/test_tensor.py"
    original_suite = suite.read_text()
    suite.write_text(original_suite + SLOW_TEST.format(seconds=600))
    proc = start(repo)
    wait_for(repo / "suite_started", proc)
    proc.kill()
    proc.communicate(timeout=30)
    assert no_processes_left(repo), "the package tests outlived tito (PR_SET_PDEATHSIG)"
    assert target.read_bytes() == before
    left = list((repo / STAGING).iterdir())
    assert len(left) == 1, "a killed run cannot clean up after itself"
    suite.write_text(original_suite)
    result = run_tito(repo, "module", "complete", "01")
    assert result.returncode == 0, result.stdout + result.stderr
    assert not left[0].exists(), "the next run removes what the killed run left"
    assert "# the new version" in target.read_text()


def test_closed_pipe_leaves_a_consistent_state_and_no_traceback(completed_repo):
    repo = completed_repo
    target = repo / "tinytorch" / "tensor.py"
    before = target.read_bytes()
    completed_before = recorded(repo)["completed"]
    (repo / "tests/01_tensor/test_tensor.py").open("a").write(SLOW_TEST.format(seconds=2))
    proc = start(repo)
    assert proc.stdout.readline() is not None
    wait_for(repo / "suite_started", proc)
    proc.stdout.close()  # like `| head -1`: the reader is gone before tito writes the results
    err = proc.stderr.read()
    proc.wait(timeout=60)
    assert proc.returncode in (1, 141)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    after = target.read_bytes()
    if after == before:  # stopped before the swap: nothing recorded
        assert recorded(repo)["completed"] == completed_before
    else:  # the swap happened: only after its tests passed
        assert "# the new version" in after.decode()
    assert not list((repo / STAGING).iterdir())
    assert no_processes_left(repo) if Path("/proc/self").exists() else True


def test_closed_pipe_at_the_first_line_changes_nothing(completed_repo):
    before = (completed_repo / "tinytorch" / "tensor.py").read_bytes()
    result = subprocess.run(f"{sys.executable} -m tito module complete 01 | head -1", shell=True,
                            cwd=completed_repo, env=CI_ENV, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr, result.stderr
    assert (completed_repo / "tinytorch" / "tensor.py").read_bytes() == before


def test_failing_suite_keeps_the_previous_file_byte_for_byte(completed_repo):
    target = completed_repo / "tinytorch" / "tensor.py"
    before = target.read_bytes()
    edit(completed_repo / "tests/01_tensor/test_tensor.py", '== "float32"', '== "float64"')
    result = run_tito(completed_repo, "module", "complete", "01")
    assert result.returncode == 1
    assert "tinytorch/tensor.py unchanged: the previous tested version is kept" in result.stdout
    assert target.read_bytes() == before
    assert not list((completed_repo / STAGING).iterdir())


def test_staged_package_finds_the_repository_datasets_and_cleanup_keeps_them(completed_repo):
    repo = completed_repo
    (repo / "datasets").mkdir()
    (repo / "datasets" / "marker.txt").write_text("the real data")
    (repo / "tinytorch" / "datasets.py").write_text(
        "from pathlib import Path\nREPO_DATASETS = Path(__file__).resolve().parent.parent / 'datasets'\n")
    (repo / "tests/01_tensor/test_tensor.py").open("a").write(
        "\n\ndef test_data():\n    from tinytorch.datasets import REPO_DATASETS\n"
        "    assert (REPO_DATASETS / 'marker.txt').read_text() == 'the real data'\n")
    result = run_tito(repo, "module", "complete", "01")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed, 0 failed" in result.stdout
    assert (repo / "datasets" / "marker.txt").read_text() == "the real data"


GRANDCHILD = """

def test_a_python_the_test_starts_imports_the_staged_package_too():
    import subprocess, sys
    code = "import tinytorch.tensor, pathlib; print(pathlib.Path(tinytorch.tensor.__file__).read_text())"
    seen = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "# the new version" in seen.stdout, seen.stdout + seen.stderr
"""


def test_processes_started_by_a_test_import_the_staged_package(completed_repo):
    (completed_repo / "tests/01_tensor/test_tensor.py").open("a").write(GRANDCHILD)
    result = run_tito(completed_repo, "module", "complete", "01")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Package tests (tests/01_tensor): 3 passed, 0 failed" in result.stdout
