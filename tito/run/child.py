"""The child side of every test process tito starts (the inline runner, and pytest via `-p tito.run.child`).

tito.run.runner passes three environment variables:
    TITO_PARENT   tito's process id: the child dies with tito, even on `kill -9` (Linux)
    TITO_STAGED   a folder holding a staged `tinytorch/`, imported instead of the checkout's
    TITO_STATUS   a file where the child writes which test it is running, so that tito can
                  name the test if it has to stop the whole child
"""

from __future__ import annotations

import ctypes
import io
import itertools
import os
import signal
import sys
from pathlib import Path

PARENT_ENV, STAGED_ENV, STATUS_ENV = "TITO_PARENT", "TITO_STAGED", "TITO_STATUS"
_counter = itertools.count(1)


def die_with_parent(parent: int | None = None) -> None:
    """On Linux, ask the kernel to kill this process when tito (or `parent`) dies; exit now if it
    already did."""
    parent = parent or os.environ.get(PARENT_ENV)
    if not parent or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)  # the C library this Python runs on (no ldconfig)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # no usable libc: tito still kills its children on exit
        return
    if os.getppid() != int(parent):  # tito died before the line above took effect
        os._exit(1)


# A test process may write at most this much to any one file (its output, pytest's capture files, a
# file a test saves); past it the kernel stops the process with SIGXFSZ. An endless print fills
# gigabytes of disk in seconds otherwise.
FILE_SIZE_LIMIT = 128 * 2**20


def bound_file_sizes(limit: int = FILE_SIZE_LIMIT) -> None:
    """RLIMIT_FSIZE for this process and what it starts (where the OS has it)."""
    try:
        import resource
    except ImportError:  # Windows has no RLIMIT_FSIZE: the watchdog's size check (tito.run.watch) holds
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    if soft == resource.RLIM_INFINITY or soft > limit:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))


class BoundedText(io.TextIOBase):
    """Captured output that keeps its first `head` and last `tail` characters and counts the rest,
    so an endless print costs no memory."""

    def __init__(self, head: int = 2000, tail: int = 4000) -> None:
        self.head_size, self.tail_size = head, tail
        self._head, self._tail, self.total = "", "", 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        written = len(text)
        self.total += written
        if len(self._head) < self.head_size:
            room = self.head_size - len(self._head)
            self._head, text = self._head + text[:room], text[room:]
        if text:
            self._tail = (self._tail + text[-self.tail_size:])[-self.tail_size:]
        return written

    def getvalue(self) -> str:
        cut = self.total - len(self._head) - len(self._tail)
        if cut <= 0:
            return self._head + self._tail
        return f"{self._head}\n[... {cut:,} characters of output cut ...]\n{self._tail}"


def import_staged_first() -> None:
    """Put the staged package first on sys.path (before the checkout that `python -m` puts first)."""
    staged = os.environ.get(STAGED_ENV)
    if not staged:
        return
    sys.path.insert(0, str(Path(staged).resolve()))
    for name in [n for n in sys.modules if n == "tinytorch" or n.startswith("tinytorch.")]:
        del sys.modules[name]  # nothing should have imported it yet; never keep a stale copy


def report_step(step: str) -> None:
    """Tell tito what runs now (atomically: tito never reads half a line)."""
    path = os.environ.get(STATUS_ENV)
    if not path:
        return
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(f"{next(_counter)}\t{step}")
        Path(tmp).replace(path)  # atomic: the parent reads the old or the new line
    except OSError:  # only a nicer message is lost: tito still stops the test in time
        pass


def read_step(path: Path) -> str | None:
    """tito's side: the last step the child reported ('3\\ttest_x'), or None."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None


def step_name(status: str | None) -> str:
    return status.split("\t", 1)[1] if status and "\t" in status else "starting the tests"


# --- pytest plugin (`pytest -p tito.run.child`) ---------------------------------------------------


def pytest_load_initial_conftests(early_config, parser, args) -> None:  # noqa: ANN001 - pytest hook
    """Before any conftest or test imports tinytorch."""
    die_with_parent()
    bound_file_sizes()
    import_staged_first()
    report_step("collecting the tests")


_session = None


def pytest_sessionstart(session) -> None:  # noqa: ANN001 - pytest hook
    global _session
    _session = session


def pytest_runtest_logstart(nodeid: str, location) -> None:  # noqa: ANN001 - pytest hook
    report_step(nodeid)


def pytest_runtest_logreport(report) -> None:  # noqa: ANN001 - pytest hook
    """After a test that never ended (pytest-timeout), stop: the rest would most likely hang too."""
    if report.failed and _session is not None and "from pytest-timeout" in str(report.longrepr):
        _session.shouldfail = f"{report.nodeid} did not finish in time"
        # From here pytest only tears down and writes its report: give that its own step, so that on
        # a busy machine the watchdog does not count it as more time of the test that was stopped.
        report_step(f"finishing after {report.nodeid} was stopped")
