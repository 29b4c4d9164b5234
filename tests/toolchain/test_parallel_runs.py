"""`make test` runs pytest in parallel (pytest-xdist); tests/conftest.py keeps the student journey's
file in one worker, in order, and spreads the other tests. Checked on a small stand-in suite."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO

pytest.importorskip("xdist")

JOURNEY = '''import os
import time
import pytest

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("step", range(6))
def test_step(step):
    time.sleep(0.2)
    with open(os.environ["ORDER_LOG"], "a") as log:
        log.write(f"{step} {os.environ['PYTEST_XDIST_WORKER']}\\n")
'''
OTHERS = '''import os
import time


def test_quick():
    time.sleep(0.2)
    with open(os.environ["ORDER_LOG"], "a") as log:
        log.write(f"other {os.environ['PYTEST_XDIST_WORKER']}\\n")
'''


def stand_in_suite(root: Path) -> None:
    (root / "tests" / "toolchain").mkdir(parents=True)
    shutil.copy(REPO / "tests" / "conftest.py", root / "tests" / "conftest.py")
    (root / "pytest.ini").write_text("[pytest]\nmarkers =\n    slow: slow\n")
    (root / "tests" / "toolchain" / "test_student_journey.py").write_text(JOURNEY)
    for i in range(6):
        (root / "tests" / f"test_other_{i}.py").write_text(OTHERS)


def pytest_run(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {"ORDER_LOG": str(root / "order.log"), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
                          cwd=root, env=env, capture_output=True, text=True, timeout=300)


def test_journey_file_runs_whole_and_in_order_in_one_worker(tmp_path):
    stand_in_suite(tmp_path)
    result = pytest_run(tmp_path, "-n", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line.split() for line in (tmp_path / "order.log").read_text().splitlines()]
    journey = [(step, worker) for step, worker in lines if step != "other"]
    assert [step for step, _ in journey] == [str(i) for i in range(6)]
    assert len({worker for _, worker in journey}) == 1
    assert len({worker for step, worker in lines}) == 2  # the other tests used the other worker too


def test_a_dist_mode_that_would_split_the_journey_is_refused(tmp_path):
    stand_in_suite(tmp_path)
    result = pytest_run(tmp_path, "-n", "2", "--dist", "loadgroup")
    assert result.returncode != 0 and "must run in order in one worker" in result.stdout + result.stderr
