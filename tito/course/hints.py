"""Progressive hints: `modules/source/NN_slug/hints.md`, one section per stub, levels one at a time.

    # Hints for module 01 (Tensor)

    ## Tensor.__init__
    Asks: TRANSLATE

    ### 1. The idea
    ...
    ### 2. The math
    ...

A section is named after a stub (what the stub message says: `Tensor.__init__`, `relu`); its
levels are numbered 1..n in order (2 to 4 of them). Headings inside fenced code are text. The
`Asks:` line says what the stub asks of the student (COPY, TRANSLATE or DESIGN: the rubric of
docs/MODULE_FORMAT.md); text after a dash says what a DESIGN stub leaves to the student.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from tito.course.solutions import regions
from tito.course.sources import read_source
from tito.errors import TitoError
from tito.registry import Module

FILE_NAME = "hints.md"
MIN_LEVELS, MAX_LEVELS = 2, 4
ASKS = ("COPY", "TRANSLATE", "DESIGN")
_ASKS = re.compile(r"^Asks:\s*(?P<asks>\S+?)\s*(?:[-—–]+\s*(?P<decision>.*?))?\s*$", re.IGNORECASE)
_SECTION = re.compile(r"^##\s+(?P<name>\S.*?)\s*$")
_LEVEL = re.compile(r"^###\s+(?P<number>\d+)\.\s*(?P<title>.*?)\s*$")
_OTHER_HEADING = re.compile(r"^#{3,6}\s")


@dataclass
class Level:
    number: int
    title: str
    line: int
    body: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(self.body).strip("\n")


@dataclass
class Section:
    name: str
    line: int
    levels: list[Level] = field(default_factory=list)
    asks: str | None = None  # COPY, TRANSLATE or DESIGN
    decision: str = ""  # what a DESIGN stub leaves to the student


@dataclass
class Hints:
    sections: dict[str, Section]
    problems: list[str]  # `line N: what is wrong`, in file order


def path(root: Path, module: Module) -> Path:
    return root / module.source.parent / FILE_NAME


def parse(text: str) -> Hints:
    """Read a hints file; format problems are collected, never raised."""
    sections: dict[str, Section] = {}
    problems: list[str] = []
    current: Section | None = None
    fenced = False
    for number, line in enumerate(text.splitlines(), start=1):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        level = None if fenced else _LEVEL.match(line)
        section = None if fenced else _SECTION.match(line)
        asks = None if fenced or current is None or current.levels else _ASKS.match(line)
        if asks:
            kind = asks.group("asks").upper()
            if kind not in ASKS or current.asks is not None:
                problems.append(f"line {number}: '{current.name}' needs one 'Asks: COPY', 'Asks: TRANSLATE' "
                                f"or 'Asks: DESIGN' line (got '{line.strip()}')")
            else:
                current.asks, current.decision = kind, asks.group("decision") or ""
        elif section:
            name = section.group("name").strip("`")
            if name in sections:
                problems.append(f"line {number}: a second section '## {name}' (the first is at line "
                                f"{sections[name].line})")
            current = sections[name] = Section(name, number)
        elif level:
            if current is None:
                problems.append(f"line {number}: hint level before any '## <stub name>' section")
                continue
            expected = len(current.levels) + 1
            if int(level.group("number")) != expected:
                problems.append(f"line {number}: '{current.name}' level {level.group('number')} should be "
                                f"numbered {expected} (levels count 1, 2, 3 ... in order)")
            current.levels.append(Level(expected, level.group("title"), number))
        elif not fenced and _OTHER_HEADING.match(line) and current is not None:
            problems.append(f"line {number}: a heading under '## {current.name}' must read "
                            f"'### N. title' (N = {len(current.levels) + 1})")
        elif current is not None and current.levels:
            current.levels[-1].body.append(line)
        elif current is not None and line.strip():
            problems.append(f"line {number}: text under '## {current.name}' before its '### 1.' level")
    if fenced:
        problems.append("the file ends inside a fenced code block (an unclosed ```)")
    for section in sections.values():
        if not MIN_LEVELS <= len(section.levels) <= MAX_LEVELS:
            problems.append(f"line {section.line}: '{section.name}' has {len(section.levels)} level(s); "
                            f"give {MIN_LEVELS} to {MAX_LEVELS} (the idea, the math, the shape of the code)")
        problems += [f"line {lv.line}: '{section.name}' level {lv.number} is empty"
                     for lv in section.levels if not lv.text.strip()]
    return Hints(sections, problems)


def load(root: Path, module: Module) -> Hints | None:
    """The module's hints, or None when it has no hints file."""
    file = path(root, module)
    if not file.is_file():
        return None
    data = file.read_bytes()
    try:
        return parse(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise TitoError(f"{file.relative_to(root).as_posix()} is not UTF-8 text: byte "
                        f"0x{data[exc.start]:02x} on line {line}.",
                        "Save the file as UTF-8 (or retype that character).") from exc


def stub_names(reference: str) -> list[str]:
    """The stubs of a reference module file (named as the stub messages name them), in order."""
    return list(dict.fromkeys(r.name for r in regions(reference)))


def check(root: Path, module: Module) -> list[str]:
    """Problems of a reference module's hints: every stub has a section with 2-4 levels numbered
    1..n, and every section names an existing stub."""
    where = path(root, module).relative_to(root).as_posix()
    hints = load(root, module)
    if hints is None:
        return [f"{where}: missing (every module with stubs has one)"]
    stubs = stub_names(read_source(root / module.source, root))
    problems = [f"{where}: {p}" for p in hints.problems]
    problems += [f"{where}: no section '## {name}' for the stub {name}" for name in stubs
                 if name not in hints.sections]
    problems += [f"{where}:{s.line}: section '{s.name}' names no stub of {module.source.name} "
                 f"(stubs: {', '.join(stubs)})" for s in hints.sections.values() if s.name not in stubs]
    return problems


def balance(root: Path, module: Module) -> list[str]:
    """What keeps a module from asking students to decide: a stub without an `Asks:` line, more
    than a third of the stubs at COPY, or no stub at DESIGN (docs/MODULE_FORMAT.md)."""
    where = path(root, module).relative_to(root).as_posix()
    found = load(root, module)
    stubs = stub_names(read_source(root / module.source, root))
    if found is None or not stubs:
        return [f"{where}: missing"] if stubs else []
    asks = {name: found.sections[name].asks for name in stubs if name in found.sections}
    problems = [f"{where}: '{name}' has no 'Asks:' line (COPY, TRANSLATE or DESIGN)"
                for name in stubs if asks.get(name) is None]
    copies = [name for name, kind in asks.items() if kind == "COPY"]
    if 3 * len(copies) > len(stubs):
        problems.append(f"{where}: {len(copies)} of {len(stubs)} stubs are COPY ({', '.join(copies)}); "
                        f"at most a third may be")
    if "DESIGN" not in asks.values():
        problems.append(f"{where}: no stub asks for a DESIGN decision")
    return problems
