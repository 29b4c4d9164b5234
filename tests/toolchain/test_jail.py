"""The jail student code is graded in (tito/grading/jail.py): what it hides, what it bounds."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tito.grading import jail
from tito.grading.grader import jail_env

from .conftest import REPO

pytestmark = pytest.mark.skipif(jail.problem() is not None, reason=f"no jail here: {jail.problem()}")


@pytest.fixture
def grading(tmp_path) -> Path:
    folder = tmp_path / "grading"
    (folder / "work").mkdir(parents=True)
    (folder / "secret-answers.txt").write_text("42\n", encoding="utf-8")
    return folder


def _run(grading: Path, code: str, seconds: float = 30, **limits) -> jail.Outcome:
    return jail.run([jail.python(), "-S", "-c", code], grading=grading, env=jail_env(grading),
                    limits=jail.Limits(seconds, **limits), scratch=("work",), cwd=grading / "work")


def test_it_sees_python_and_the_grading_folder_and_nothing_of_the_repository(grading):
    code = f"""
import os, numpy
for path in {[str(REPO / "tinytorch" / "tensor.py"), str(REPO / "modules"), str(REPO / ".git"),
              str(Path.home() / ".bashrc"), "/etc/shadow", "/var", "/home"]!r}:
    print(path, os.path.exists(path))
print("grading", open("../secret-answers.txt").read().strip())
"""
    out = _run(grading, code)
    assert out.code == 0, out.output
    assert out.output.count(" False") == 7 and "grading 42" in out.output, out.output


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="only root drops to nobody")
def test_code_started_by_root_runs_as_nobody_without_capabilities(grading):
    code = """
import os
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
print(os.getuid(), os.getgid(), os.getgroups(),
      *(status[k].strip() for k in ("CapEff", "CapBnd", "NoNewPrivs")))
"""
    out = _run(grading, code)
    none = "0000000000000000"
    assert out.output.split() == ["65534", "65534", "[]", none, none, "1"], out.output


def test_it_can_write_only_its_scratch_folders(grading):
    code = f"""
import os
for path in ["notes.txt", "/tmp/notes.txt", "../planted.py", {str(jail.site_packages()[0] / "planted.py")!r},
             "/usr/planted"]:
    try:
        open(path, "w").write("x")
        print(path, "written")
    except OSError as exc:
        print(path, "refused", exc.errno)
"""
    out = _run(grading, code)
    assert out.output.count("written") == 2 and out.output.count("refused") == 3, out.output
    assert not (grading / "planted.py").exists() and not (grading / "work" / "notes.txt").exists()


def test_it_has_no_network(grading):
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    try:
        code = f"""
import socket
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=3)
    print("reached the machine")
except OSError as exc:
    print("refused", type(exc).__name__)
"""
        out = _run(grading, code)
    finally:
        server.close()
    assert "refused" in out.output and "reached" not in out.output, out.output


def test_an_installed_copy_of_the_package_is_hidden(grading, tmp_path, monkeypatch):
    site = tmp_path / "site-packages"
    (site / "tinytorch").mkdir(parents=True)
    (site / "tinytorch" / "autograd.py").write_text("REFERENCE = True\n", encoding="utf-8")
    real = jail.site_packages()
    monkeypatch.setattr(jail, "site_packages", lambda: [site, *real])
    out = _run(grading, f"import os; print(os.listdir({str(site / 'tinytorch')!r}))")
    assert out.output.strip() == "[]", out.output


def test_an_endless_print_is_cut_and_stopped(grading):
    out = _run(grading, "while True:\n    print('spam' * 100)", file_size=2 * 2**20, output=4096)
    assert out.stopped == "it printed more than 2 MB (an endless print?)", out
    assert len(out.output) < 3 * 4096 and "bytes of output cut" in out.output


def test_code_that_ignores_signals_and_swallows_everything_is_stopped_in_time(grading):
    code = """
import signal
for s in (signal.SIGALRM, signal.SIGTERM, signal.SIGINT):
    signal.signal(s, signal.SIG_IGN)
while True:
    try:
        pass
    except BaseException as swallowed:  # everything, timeouts included
        pass
"""
    began = time.monotonic()
    out = _run(grading, code, seconds=3)
    assert out.stopped == "it did not finish within 3 s" and out.code is None
    assert time.monotonic() - began < 20


def _alive(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_a_forked_child_holding_the_output_leaves_nothing_behind(grading):
    marker = f"tito-orphan-{os.getpid()}"
    code = f"""
import os, time
if os.fork() == 0:
    os.setsid()
    os.execv("/bin/sh", ["/bin/sh", "-c", "sleep 300; echo {marker}"])
print("parent leaves")
"""
    began = time.monotonic()
    out = _run(grading, code, seconds=60)
    assert out.code == 0 and "parent leaves" in out.output
    assert time.monotonic() - began < 20
    time.sleep(0.5)
    assert _alive(marker) == []


def test_processes_and_memory_are_bounded(grading):
    code = """
import os
n = 0
try:
    while True:
        if os.fork() == 0:
            import time; time.sleep(5); os._exit(0)
        n += 1
except OSError as exc:
    print("forks refused after", n)
try:
    block = bytearray(3 * 2**30)
except MemoryError:
    print("memory refused")
"""
    out = _run(grading, code, processes=16, memory=2 * 2**30)
    assert "memory refused" in out.output and "forks refused after" in out.output, out.output
    assert int(out.output.split("forks refused after")[1].split()[0]) <= 16


def test_killing_tito_grade_leaves_no_student_process(tmp_path):
    marker = f"tito-student-{os.getpid()}"
    loop = tmp_path / "loop.py"
    sleeper = f"import subprocess\nsubprocess.run(['/bin/sh', '-c', 'sleep 300; echo {marker}'])\n"
    loop.write_text((REPO / "modules/source/01_tensor/01_tensor_dev.py").read_text(encoding="utf-8")
                    + f"\n# %%\n{sleeper}", encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "tito", "grade", "01", "--file", str(loop)], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not _alive(marker) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _alive(marker), "the student's process never started"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 10
        while _alive(marker) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _alive(marker) == []
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
