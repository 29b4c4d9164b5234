"""Which lines of one file run while a block runs: the mutation check's map from a line to the tests
that can notice a change of it.

A test that never runs a line behaves the same whatever that line says, unless it reads the file's
source (`inspect.getsource`), so it is then recorded as reaching every line. The map may only ever
miss a test (a line run in a child process, a test that replaced the trace function): the check
then runs fewer tests on a mutant, so an error can make a mutant survive that a full run would
catch, never count a mutant as caught that no test catches.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

EVERY_LINE = "all"  # recorded for a block that read the file's source
_SOURCE_READERS = {"findsource", "getsourcelines", "getsource"}


class LineRecorder:
    """Records the lines of `path` that run inside `recording()`: a set of line numbers, or EVERY_LINE."""

    def __init__(self, path: Path) -> None:
        self.filename = str(path)
        self._lines: set[int] = set()
        self._reads_source = False

    def _on_call(self, frame: FrameType, event: str, arg: object):  # noqa: ANN202 - sys.settrace protocol
        code = frame.f_code
        if code.co_filename == self.filename:
            self._lines.add(frame.f_lineno)
            return self._on_line
        if code.co_name in _SOURCE_READERS and frame.f_globals.get("__name__") == "inspect":
            self._reads_source = True
        return None

    def _on_line(self, frame: FrameType, event: str, arg: object):  # noqa: ANN202
        if event == "line":
            self._lines.add(frame.f_lineno)
        return self._on_line

    @contextlib.contextmanager
    def recording(self, found: dict, key: str) -> Iterator[None]:
        """Record the block's lines into `found[key]` (sorted), even when the block raises."""
        self._lines, self._reads_source = set(), False
        previous = sys.gettrace()
        sys.settrace(self._on_call)
        threading.settrace(self._on_call)
        try:
            yield
        finally:
            sys.settrace(previous)
            threading.settrace(None)
            found[key] = EVERY_LINE if self._reads_source else sorted(self._lines)
