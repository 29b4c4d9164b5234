"""Run a test process that ends with tito, and stop it when one of its tests runs too long.

The child gets its own process group (session), so Ctrl-C reaches only tito, which then kills
the whole group; on Linux the child also asks the kernel to die with tito (tito.run.child), which
covers `kill -9`. Output goes to a file, not a pipe: a chatty child can never block.

The child reports each test it starts (tito.run.child.report_step). A test gets `limit` seconds in
the child itself (SIGALRM, pytest-timeout); this watchdog is the backstop when the child cannot
interrupt itself (a long NumPy call, no SIGALRM): it stops the child `limit + grace` seconds
after the current test started, and after `total` seconds whatever runs.

Output is bounded too: the child may write at most FILE_SIZE_LIMIT bytes to a file (the kernel
stops it past that, tito.run.child.bound_file_sizes; the watchdog checks the log's size as well),
and tito reads only the first and last OUTPUT_KEEP bytes of the log, saying how much it cut.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from tito.run.child import FILE_SIZE_LIMIT, read_step, step_name

POLL = 0.1
OUTPUT_KEEP = 32 * 1024  # bytes kept from each end of a test process's output
TOO_MUCH_OUTPUT = (f"printed more than {FILE_SIZE_LIMIT // 2**20} MB of output (an endless print?), so the "
                   "test process was stopped")


def grace(limit: float) -> float:
    """How long past the in-child limit the watchdog waits (the child usually stops itself first)."""
    return 5 + 0.25 * limit


def total(limit: float) -> float:
    """The overall backstop for one test process."""
    return max(3600.0, 100 * limit)


@dataclass
class Finished:
    returncode: int | None  # None when tito stopped the child
    output: str  # stdout and stderr, interleaved
    stopped: str | None = None  # why tito stopped it: "test_x did not finish within 60 s"


def own_group() -> dict:
    if os.name == "nt":
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
    return {"start_new_session": True}


def kill_group(proc: subprocess.Popen) -> None:
    """Kill the child and everything in its process group; reap it."""
    if os.name == "nt":
        if proc.poll() is None:
            proc.kill()
    else:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:  # pragma: no cover - a process the kernel cannot kill
        pass


def _watch(proc: subprocess.Popen, status: Path, limit: float, overall: float, log: IO[bytes]) -> str | None:
    """Wait for the child; the reason for stopping it, or None when it ended by itself."""
    began = since = time.monotonic()
    step = read_step(status)
    while True:
        try:
            proc.wait(timeout=POLL)
            return None
        except subprocess.TimeoutExpired:
            pass
        if os.fstat(log.fileno()).st_size > FILE_SIZE_LIMIT:
            return TOO_MUCH_OUTPUT
        now, current = time.monotonic(), read_step(status)
        if current != step:
            step, since = current, now
        if limit > 0 and now - since > limit + grace(limit):
            return f"{step_name(step)} did not finish within {limit:g} s"
        if overall > 0 and now - began > overall:
            return f"the tests did not finish within {overall:g} s in all (stopped during {step_name(step)})"


def run_watched(command: list[str], cwd: Path, env: dict[str, str], status: Path, limit: float,
                overall: float | None = None) -> Finished:
    """Run `command`; kill its whole process group on any way out of this function.

    `limit`: seconds per test (0: none); `overall`: seconds for everything (default `total(limit)`).
    """
    if overall is None:
        overall = total(limit) if limit > 0 else 0
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, **own_group())
        try:
            stopped = _watch(proc, status, limit, overall, log)
        finally:
            kill_group(proc)
        if stopped is None and proc.returncode == -getattr(signal, "SIGXFSZ", 0):
            stopped = TOO_MUCH_OUTPUT  # the kernel stopped it at the file size limit
        output = head_and_tail(log)
    return Finished(None if stopped else proc.returncode, output, stopped)


def head_and_tail(log: IO[bytes], keep: int = OUTPUT_KEEP) -> str:
    """The start and the end of a log file, with how much was cut between them."""
    size = os.fstat(log.fileno()).st_size
    log.seek(0)
    if size <= 2 * keep:
        return log.read().decode("utf-8", errors="replace")
    head = log.read(keep).decode("utf-8", errors="replace")
    log.seek(size - keep)
    tail = log.read(keep).decode("utf-8", errors="replace")
    return f"{head}\n[... {size - 2 * keep:,} bytes of output cut ...]\n{tail}"

