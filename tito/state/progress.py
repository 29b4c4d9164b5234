"""The one progress file, `.tito/progress.json`: versioned, validated, written atomically.

    {"version": 1,
     "modules":    {"01": {"started": "2025-01-31T10:00:00", "completed": "2025-01-31T11:00:00"}},
     "milestones": {"M01": {"passed": true, "date": "2025-01-31T12:00:00"}},
     "hints":      {"01": {"Tensor.__init__": 2}}}          (optional: levels seen by `tito hint`)

The whole document is checked against SCHEMA on every load; a bad entry is reported by its
path (`modules.01.completed`), and `repair` keeps every valid entry while dropping the bad ones.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import NamedTuple

from tito.errors import TitoError
from tito.registry import MILESTONES, MODULES
from tito.state.atomic import write_atomic

STATE_FILE = Path(".tito") / "progress.json"
BACKUPS = Path(".tito") / "backups"
VERSION = 1
FIX_HINT = ("Run `tito system doctor --fix`: it saves the file in .tito/backups/ and keeps every valid "
            "entry (a file that cannot be read at all starts fresh; then re-run "
            "`tito module complete NN` for the modules you finished).")


class StateError(TitoError):
    """The progress file is unreadable, malformed or from another tito version."""


class UntouchableState(StateError):
    """A progress file that is fine but cannot be used here (no permission, a newer tito's): repair
    must leave it alone, since dropping its records would lose a student's progress."""


def now() -> str:
    return datetime.now().isoformat(timespec="seconds")


def stamp() -> str:
    """A sortable, collision-free timestamp for backup file names."""
    return datetime.now().strftime("%Y%m%d-%H%M%S-%f")


# --- the schema, as code ------------------------------------------------------------------------
# A check takes a value and returns why it is wrong, or None.
Check = Callable[[object], "str | None"]


def _found(value: object) -> str:
    return f"found {json.dumps(value)[:60]}"


_DATE = re.compile(r"\d{4}-\d\d-\d\d(T\d\d:\d\d(:\d\d(\.\d{1,6})?)?)?")
# ^ what tito writes; checked by pattern too, since fromisoformat accepts more on 3.11 than on 3.10


def _iso_date(value: object) -> str | None:
    if isinstance(value, str) and _DATE.fullmatch(value):
        try:
            datetime.fromisoformat(value)
            return None
        except ValueError:
            pass
    return f"must be an ISO date string like \"2025-01-31T10:00:00\", {_found(value)}"


def _boolean(value: object) -> str | None:
    return None if isinstance(value, bool) else f"must be true or false, {_found(value)}"


def _hint_level(value: object) -> str | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
    return None if ok else f"must be a whole number >= 1, {_found(value)}"


def _one_of(names: set[str], what: str) -> Check:
    def check(key: object) -> str | None:
        return None if key in names else f"is not {what}"
    return check


def _stub_name(key: object) -> str | None:
    return None if isinstance(key, str) and key.strip() else "is not a stub name"


_MODULE_NUMBER = _one_of({m.number for m in MODULES}, "a module number (01-20, two digits)")
_MILESTONE_ID = _one_of({m.id for m in MILESTONES}, "a milestone id (M01-M06)")

# section -> (check of each key, fields of each entry: name -> (check, required)),
# or for "hints" a mapping of any stub name -> level.
RECORDS: dict[str, tuple[Check, dict[str, tuple[Check, bool]]]] = {
    "modules": (_MODULE_NUMBER, {"started": (_iso_date, False), "completed": (_iso_date, False)}),
    "milestones": (_MILESTONE_ID, {"passed": (_boolean, True), "date": (_iso_date, True)}),
}
MAPS: dict[str, tuple[Check, Check, Check]] = {  # section -> (key check, inner key check, value check)
    "hints": (_MODULE_NUMBER, _stub_name, _hint_level),
}
OPTIONAL_SECTIONS = {"hints"}


def _record(path: str, entry: object, fields: dict[str, tuple[Check, bool]]) -> tuple[dict | None, list[str]]:
    """A module/milestone entry: (its valid fields, or None if the entry must go; problems)."""
    if not isinstance(entry, dict):
        return None, [f"{path} must be an object, {_found(entry)}"]
    kept, problems, fatal = {}, [], False
    for name, (check, required) in fields.items():
        if name not in entry:
            if required:
                problems.append(f"{path}.{name} is missing")
                fatal = True
            continue
        why = check(entry[name])
        if why:
            problems.append(f"{path}.{name} {why}")
            fatal = fatal or required
        else:
            kept[name] = entry[name]
    problems += [f"{path}.{name} is not a known field" for name in entry if name not in fields]
    return (None if fatal else kept), problems


def _mapping(path: str, entry: object, key_check: Check, value_check: Check) -> tuple[dict, list[str]]:
    if not isinstance(entry, dict):
        return {}, [f"{path} must be an object, {_found(entry)}"]
    kept, problems = {}, []
    for key, value in entry.items():
        why = key_check(key) or value_check(value)
        if why:
            problems.append(f"{path}.{key} {why}")
        else:
            kept[key] = value
    return kept, problems


def _section(entries: object, section: str, key_check: Check, problems: list[str],
             entry_check: Callable[[str, object], tuple[dict | None, list[str]]]) -> dict:
    """One section's valid entries (each checked by `entry_check`); its problems go to `problems`."""
    if not isinstance(entries, dict):
        problems.append(f"{section} must be an object, {_found(entries)}")
        return {}
    clean = {}
    for key, entry in entries.items():
        why = key_check(key)
        if why:
            problems.append(f"{section}.{key} {why}")
            continue
        kept, found = entry_check(f"{section}.{key}", entry)
        problems += found
        if kept is not None:
            clean[key] = kept
    return clean


def examine(data: object) -> tuple[dict | None, list[str]]:
    """Check a whole progress document against the schema.

    Returns (the document with only its valid entries, or None when nothing can be kept;
    one problem per bad entry, each starting with its path like `modules.01.completed`).
    """
    if not isinstance(data, dict):
        return None, [f"the file is not a JSON object ({_found(data)})"]
    if type(data.get("version")) is not int or data["version"] != VERSION:  # true == 1 in Python
        return None, [f"version is {data.get('version')!r}; this tito reads version {VERSION}"]
    clean: dict = {"version": VERSION}
    problems = [f"{key} is not a known section" for key in data
                if key not in ("version", *RECORDS, *MAPS)]
    for section, (key_check, fields) in RECORDS.items():
        clean[section] = _section(data.get(section, {}), section, key_check, problems,
                                  partial(_record, fields=fields))
    for section, (key_check, inner_check, value_check) in MAPS.items():
        if section in data:
            clean[section] = _section(data[section], section, key_check, problems,
                                      partial(_mapping, key_check=inner_check, value_check=value_check))
    return clean, problems


def _describe(problems: list[str]) -> str:
    shown = "; ".join(problems[:3])
    more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
    return f"{shown}{more}"


def _read(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except PermissionError:
        raise UntouchableState(f"cannot read {path}: permission denied.",
                               f"Give your user read and write access (`chmod u+rw {path}`, or ask the owner "
                               "of the folder); nothing was changed.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StateError(f"{path} is corrupted ({exc}).", FIX_HINT) from exc


def _newer(path: Path, data: object) -> None:
    """A file from a newer tito is not corruption: say so, and leave it alone."""
    version = data.get("version") if isinstance(data, dict) else None
    if type(version) is int and version > VERSION:
        raise UntouchableState(f"{path} was written by a newer tito (progress version {version}; this one "
                               f"reads version {VERSION}).",
                               "Update tito (`git pull`, then `pip install -e .`) or use the tito that wrote "
                               "it; nothing was changed.")


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
        data = _read(path)
        _newer(path, data)
        _, problems = examine(data)
        if problems:
            raise StateError(f"{path} is corrupted: {_describe(problems)}.", FIX_HINT)
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

    # `tito hint`: how many levels of each stub's hints were shown.
    def hint_level(self, number: str, stub: str) -> int:
        return self.data.get("hints", {}).get(number, {}).get(stub, 0)

    def set_hint_level(self, number: str, stub: str, level: int) -> None:
        if level < 1:
            raise ValueError("a hint level starts at 1")
        self.data.setdefault("hints", {}).setdefault(number, {})[stub] = level

    def reset_hints(self, number: str, stub: str | None = None) -> None:
        """Forget the hints seen for one stub, or for the whole module."""
        seen = self.data.get("hints", {})
        if stub is None:
            seen.pop(number, None)
        elif number in seen:
            seen[number].pop(stub, None)
            if not seen[number]:
                del seen[number]


def problem(root: Path) -> StateError | None:
    """What is wrong with the progress file (its message and fix), or None if it is fine."""
    try:
        Progress.load(root)
    except StateError as exc:
        return exc
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


def backups(root: Path) -> list[Path]:
    """The progress files `repair` and `move_aside` saved, oldest first."""
    return sorted(p for p in (root / BACKUPS).glob("progress.*.json") if p.is_file() and not p.is_symlink())


def restore(root: Path, name: str) -> Path | None:
    """Put the saved progress file `name` (as `backups` lists it) back in place, as it was (a file
    `repair` saved had problems: doctor reports them again); the current file, if any, is saved
    first. Returns where the current file was saved."""
    listed = {p.name: p for p in backups(root)}
    if name not in listed:
        known = ", ".join(sorted(listed)) or "none yet"
        raise TitoError(f"no saved progress file {name!r} in {BACKUPS.as_posix()}/ (saved: {known}).",
                        "Give the name `tito system doctor --fix` printed, without a folder.")
    content, current = listed[name].read_bytes(), root / STATE_FILE
    saved = None
    if current.exists():  # copied, not moved: an interruption leaves the old file or the restored one
        saved = root / BACKUPS / f"progress.{stamp()}.json"
        shutil.copy2(current, saved)
    write_atomic(current, content)
    return saved


class Repair(NamedTuple):
    saved: Path | None  # where the original file was saved
    dropped: list[str]  # the bad entries that were left out
    fresh: bool  # nothing could be kept: tito starts with no progress


def repair(root: Path) -> Repair:
    """Save the broken file in .tito/backups/ and write back its valid entries.

    When nothing can be kept (not JSON, an older version) the file is only moved aside. A file that
    cannot be read (permission) or comes from a newer tito is refused (UntouchableState), untouched.
    """
    path = root / STATE_FILE
    try:
        data = _read(path)
        _newer(path, data)
        clean, problems = examine(data)
    except UntouchableState:
        raise
    except StateError as exc:
        clean, problems = None, [exc.message.split(" is corrupted ", 1)[-1]]
    saved = move_aside(root)
    if clean is not None:
        write_atomic(path, json.dumps(clean, indent=2, sort_keys=True) + "\n")
    return Repair(saved, problems, clean is None)
