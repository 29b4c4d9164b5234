"""The solution-line rule: no solution line appears anywhere a student can see it.

A *solution line* is a line strictly inside a solution region that is not a pure comment and is
20 or more characters long once whitespace is normalised. It must not appear, as a substring of
a normalised line, anywhere outside its region: in the module file's prose, hint comments,
docstrings or tests, in hints.md, or in any other text file of the student edition.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from tito.course.solutions import MIN_SOLUTION_LINE, normalise, solution_code
from tito.course.sources import read_source
from tito.registry import Module


@dataclass(frozen=True)
class Leak:
    path: str  # the file (relative) where the line shows
    line: int
    code: str  # the solution line
    origin: str  # `file:line` of the region it comes from

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.code}  (solution line from {self.origin})"


class Scanner:
    """Finds solution lines in text, fast: candidates come from their first 20 characters."""

    def __init__(self, code: dict[str, str]) -> None:
        self.code = code  # solution line -> origin
        self._by_prefix: dict[str, list[str]] = defaultdict(list)
        for line in code:
            self._by_prefix[line[:MIN_SOLUTION_LINE]].append(line)

    def scan(self, path: str, text: str) -> list[Leak]:
        found = []
        width = MIN_SOLUTION_LINE
        for number, raw in enumerate(text.splitlines(), start=1):
            line = normalise(raw)
            hits = {code for i in range(len(line) - width + 1)
                    for code in self._by_prefix.get(line[i:i + width], ())
                    if line.startswith(code, i)}
            found += [Leak(path, number, code, self.code[code]) for code in sorted(hits)]
        return found


def solution_code_of(root: Path, modules: list[Module]) -> dict[str, str]:
    """Every solution line of `modules` -> `file:line` of the region it comes from."""
    code: dict[str, str] = {}
    for m in modules:
        for line, number in solution_code(read_source(root / m.source, root)).items():
            code.setdefault(line, f"{m.source.as_posix()}:{number}")
    return code


def scan_files(code: dict[str, str], files: dict[Path, Path | str]) -> list[Leak]:
    """Every place in `files` (relative path -> file or text) where a solution line shows."""
    scanner = Scanner(code)
    found: list[Leak] = []
    for rel, content in sorted(files.items()):
        if isinstance(content, Path):
            data = content.read_bytes()
            if b"\0" in data:
                continue  # binary data (text in any encoding holds no NUL byte)
            content = data.decode("utf-8", errors="replace")
        found += scanner.scan(rel.as_posix(), content)
    return found
