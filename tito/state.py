"""The one progress file, `.tito/progress.json`: versioned, written atomically.

    {"version": 1,
     "modules":    {"01": {"started": "2025-01-31T10:00:00", "completed": "2025-01-31T11:00:00"}},
     "milestones": {"M01": {"passed": true, "date": "2025-01-31T12:00:00"}}}
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

from tito.atomic import write_atomic
from tito.errors import TitoError

STATE_FILE = Path(".tito") / "progress.json"
BACKUPS = Path(".tito") / "backups"
VERSION = 1
FIX_HINT = ("Run `tito system doctor --fix` to move it aside to .tito/backups/ and start fresh "
            "(then re-run `tito module complete NN` for the modules you finished).")


class StateError(TitoError):
    """The progress file is unreadable, malformed or from another tito version."""


def now() -> str:
    return datetime.now().isoformat(timespec="seconds")


def stamp() -> str:
    """A sortable, collision-free timestamp for backup file names."""
    return datetime.now().strftime("%Y%m%d-%H%M%S-%f")


def _check(data: object) -> str | None:
    """Why `data` is not a valid progress document, or None."""
    if not isinstance(data, dict):
        return "is not a JSON object"
    if data.get("version") != VERSION:
        return f"has version {data.get('version')!r}; this tito reads version {VERSION}"
    for key in ("modules", "milestones"):
        entries = data.get(key, {})
        if not isinstance(entries, dict) or not all(isinstance(v, dict) for v in entries.values()):
            return f"has a malformed {key!r} section"
    return None


class Progress:
    """Which modules were started/completed and which milestones passed, with dates."""

    def __init__(self, root: Path, data: dict | None = None) -> None:
        self.root = root
        self.data = data or {"version": VERSION, "modules": {}, "milestones": {}}
        self.data.setdefault("modules", {})
        self.data.setdefault("milestones", {})

    @property
    def path(self) -> Path:
        return self.root / STATE_FILE

    @classmethod
    def load(cls, root: Path) -> Progress:
        path = root / STATE_FILE
        if not path.exists():
            return cls(root)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise StateError(f"{path} is corrupted ({exc}).", FIX_HINT) from exc
        problem = _check(data)
        if problem:
            raise StateError(f"{path} {problem}.", FIX_HINT)
        return cls(root, data)

    def save(self) -> None:
        write_atomic(self.path, json.dumps(self.data, indent=2, sort_keys=True) + "\n")

    def _module(self, number: str) -> dict:
        return self.data["modules"].setdefault(number, {})

    def started(self, number: str) -> str | None:
        return self.data["modules"].get(number, {}).get("started")

    def completed(self, number: str) -> str | None:
        return self.data["modules"].get(number, {}).get("completed")

    def mark_started(self, number: str) -> None:
        self._module(number).setdefault("started", now())

    def mark_completed(self, number: str) -> None:
        entry = self._module(number)
        entry.setdefault("started", now())
        entry["completed"] = now()

    def milestone(self, milestone_id: str) -> dict | None:
        return self.data["milestones"].get(milestone_id)

    def record_milestone(self, milestone_id: str, passed: bool) -> None:
        self.data["milestones"][milestone_id] = {"passed": passed, "date": now()}


def problem(root: Path) -> str | None:
    """A one-line description of what is wrong with the progress file, or None if it is fine."""
    try:
        Progress.load(root)
    except StateError as exc:
        return exc.message
    return None


def move_aside(root: Path) -> Path | None:
    """Move the progress file into .tito/backups/ so the next command starts fresh."""
    path = root / STATE_FILE
    if not path.exists():
        return None
    target = root / BACKUPS / f"progress.{stamp()}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(path), target)
    return target
