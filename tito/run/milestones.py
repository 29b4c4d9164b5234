"""The milestone workflow: what a milestone needs, the one "needs modules" message, and running scripts.

Two gates, one message:
- `tito milestone run` asks the progress file: a module counts once `tito module complete` recorded it.
- A script run directly (`python milestones/.../x.py`, via `milestones/_common.py`) asks the package:
  a module counts once its `tinytorch/<slug>.py` exists and imports. That is what the script is about
  to import; it also holds in a fresh clone of the reference repository, which ships the package but
  no `.tito/progress.json`.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tito import console
from tito.console import esc
from tito.errors import TitoError
from tito.registry import MILESTONES, Milestone, get_module
from tito.run import runner, watch
from tito.state.progress import Progress


class MilestoneLocked(TitoError):
    """A milestone was asked to run before the modules it imports are complete (exit 2: not run)."""

    exit_code = 2


def needs_modules(ms: Milestone, missing: list[str], hint: str | None = None) -> MilestoneLocked:
    """The one message for a milestone whose modules are not complete."""
    return MilestoneLocked(
        f"Milestone {ms.id} needs module(s) {', '.join(missing)} completed first — complete them with "
        f"`tito module complete NN`, starting with `tito module complete {missing[0]}`.", hint)


def is_available(base: Path, ms: Milestone) -> bool:
    return bool(ms.scripts) and all((base / ms.path / s).is_file() for s in ms.scripts)


def for_script(base: Path, script: Path) -> Milestone | None:
    """The milestone a script belongs to (by its folder under milestones/), or None."""
    script = Path(script).resolve()
    return next((ms for ms in MILESTONES if script.parent == (base / ms.path).resolve()), None)


def not_completed(progress: Progress, ms: Milestone) -> list[str]:
    """Required modules the progress file does not record as completed (`tito milestone run`'s gate)."""
    return [n for n in ms.requires if not progress.completed(n)]


def not_exported(base: Path, ms: Milestone) -> list[str]:
    """Required modules whose package file is absent (a direct script run's gate)."""
    return [n for n in ms.requires if not (base / get_module(n).export_target).is_file()]


def check_package(base: Path, ms: Milestone) -> None:
    """Raise a TitoError unless every package file `ms` needs exists in `base` and imports."""
    missing = not_exported(base, ms)
    if missing:
        raise needs_modules(ms, missing)
    for number in ms.requires:
        module = get_module(number)
        try:
            importlib.import_module(f"tinytorch.{module.slug}")
        except Exception as exc:  # any failure here is the package file's, named below
            raise MilestoneLocked(
                f"Milestone {ms.id} cannot run: {module.export_target.as_posix()} (module {number}) "
                f"does not import: {type(exc).__name__}: {exc}",
                f"Run `tito module complete {number}` to export it again from its module file.") from exc


# --- running (tito milestone run) ----------------------------------------------------------------

@dataclass
class Outcome:
    milestone: Milestone
    passed: bool
    failed_script: str = ""  # "milestones/04_1998_cnn/01_lecun_tinydigits.py"
    exit_code: int = 0


def stream(base: Path, script: Path, args: Sequence[str] = ()) -> int:
    """Run one script with `args` from the repository root with this checkout's package; echo its output."""
    sys.stdout.flush()
    command = [sys.executable, "-u", "-m", "tito.run.isolate", str(script), *args]
    with subprocess.Popen(command, cwd=base, env=runner.env(base), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                          errors="replace", **watch.own_group()) as proc:
        try:
            for line in proc.stdout:
                sys.stdout.write(line)
                sys.stdout.flush()
        finally:  # Ctrl-C, a closed pipe, an error: the script (and anything it started) ends with tito
            if proc.poll() is None:
                watch.kill_group(proc)
    return proc.returncode


def run(base: Path, ms: Milestone, force: bool = False) -> Outcome:
    """Run a milestone's scripts in order (stop at the first failure) and record the result."""
    missing = not_completed(Progress.load(base), ms)
    if missing and not force:
        raise needs_modules(ms, missing, "Or pass --force to run on the package as it is.")
    if missing:
        console.warn(f"running without module(s) {', '.join(missing)} completed (--force).")
    outcome = Outcome(ms, passed=True)
    for script in ms.scripts:
        path = ms.path / script
        console.say(esc(f"$ python {path.as_posix()}"))
        code = stream(base, base / path)
        if code != 0:
            outcome = Outcome(ms, passed=False, failed_script=path.as_posix(), exit_code=code)
            break
    progress = Progress.load(base)
    progress.record_milestone(ms.id, outcome.passed)
    progress.save()
    return outcome


def skip_reason(base: Path, ms: Milestone) -> str | None:
    """Why `tito milestone run --all` cannot run `ms` in this checkout yet, or None."""
    if not is_available(base, ms):
        return "no scripts yet"
    unwritten = [n for n in ms.requires if not (base / get_module(n).source).is_file()]
    return f"module(s) {', '.join(unwritten)} not written yet" if unwritten else None
