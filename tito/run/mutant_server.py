"""Run mutants' inline tests, each in a child forked from one prepared process.

    python -m tito.run.mutant_server ROOT      (jobs on stdin, replies on stdout; one JSON line each)

A mutation check runs hundreds of mutants of one module file. A fresh Python for each costs more
CPU than most of their tests (interpreter, NumPy and tito: ~0.14 s); this server pays it once, then
forks a child per mutant, which runs what `python -m tito.run.inline_runner` runs and exits.
Nothing of `tinytorch` is imported before the fork: each mutant imports the package afresh, as in
an interpreter of its own.

    job    {"file": MUTANT.py, "out": RESULT.json, "limit": s, "cpu_limit": s, "first_failure": bool,
            "overall": s, "layout_of": REFERENCE.py (optional: a file with the same lines outside
            the mutated one, whose cells and graded tests the server reads once),
            "only": [test names] (optional), "record_lines": bool (optional)}
    reply  {"exit": code}, or {"stopped": "why"} when the child overran `overall` and was killed
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import numpy  # noqa: F401 - imported once here; every child inherits it

from tito.run import child, inline_runner

_layouts: dict[str, tuple] = {}  # file -> tito.run.inline_runner.grading_layout, read once


def _run_child(job: dict, root: Path, server: int, layout: tuple | None) -> int:
    os.setpgid(0, 0)  # its own group: the server can stop it and anything it started
    child.die_with_parent(server)
    quiet = os.open(os.devnull, os.O_WRONLY)
    os.dup2(quiet, 1)  # what escapes the runner's capture must not reach the reply channel
    os.dup2(quiet, 2)
    report = inline_runner.run(Path(job["file"]), root, job["limit"], job["cpu_limit"], job["first_failure"],
                               layout, job.get("only"), job.get("record_lines", False))
    Path(job["out"]).write_text(json.dumps(report), encoding="utf-8")
    return 0


def serve_one(job: dict, root: Path) -> dict:
    server = os.getpid()
    layout = None
    if job.get("layout_of"):
        if job["layout_of"] not in _layouts:
            _layouts[job["layout_of"]] = inline_runner.grading_layout(Path(job["layout_of"]))
        layout = _layouts[job["layout_of"]]
    pid = os.fork()
    if pid == 0:  # the child: never returns into the server's loop
        code = 1
        try:
            code = _run_child(job, root, server, layout)
        finally:
            os._exit(code)
    deadline, pause = time.monotonic() + job["overall"], 0.001
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return {"exit": os.waitstatus_to_exitcode(status)}
        if time.monotonic() > deadline:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)
            return {"stopped": f"did not finish within {job['overall']:g} s"}
        time.sleep(pause)
        pause = min(2 * pause, 0.02)


def main() -> int:
    root = Path(sys.argv[1]).resolve()
    child.die_with_parent()
    child.bound_file_sizes()
    for line in sys.stdin:
        print(json.dumps(serve_one(json.loads(line), root)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
