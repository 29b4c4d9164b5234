"""The one exception type for failures a user can fix: shown as a message, never a traceback."""

from __future__ import annotations


class TitoError(Exception):
    """A problem with a clear way out; the CLI prints `message` and `hint` and exits with `exit_code`."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
