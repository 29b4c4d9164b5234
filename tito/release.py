"""Write the student edition: the same repository with every solution replaced by a stub.

Nothing of the solutions may reach it: module files are stripped, tinytorch/ keeps only the
provided files, notebooks and caches stay behind, the result is scanned for copies of solution
code, and it gets a fresh one-commit history.

The scan looks for *solution lines*: lines that occur inside a solution region and nowhere
outside one in any module file. A copy is three such lines in a row, or one such line of 60 or
more characters (single short lines like `for i in range(n):` are too common to mean anything).
`tito/` is not scanned: it is the toolchain, shipped as is, not course material.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tito import exporter, locks, notebook, validate
from tito.edition import RELEASED, released_copy, student_text
from tito.errors import TitoError
from tito.registry import MODULES, Module, available

EXCLUDED_DIRS = {".git", ".venv", "venv", ".tito", "__pycache__", ".pytest_cache", ".ruff_cache",
                 ".mypy_cache", ".hypothesis", ".ipynb_checkpoints", "build", "dist"}
EXCLUDED_SUFFIXES = (".pyc", ".ipynb")
STUDENT_README = Path("docs") / "STUDENT_README.md"
MIN_LINE, RUN, LONG_LINE = 12, 3, 60  # see the module docstring
UNSCANNED = ("tito", ".git")


@dataclass
class Edition:
    files: int
    modules: list[Module]
    provided: list[Path]


def _excluded(rel: Path) -> bool:
    return (any(p in EXCLUDED_DIRS or p.endswith(".egg-info") for p in rel.parts)
            or rel.name.endswith(EXCLUDED_SUFFIXES) or rel.parts[:2] == RELEASED.parts)


def source_files(root: Path) -> list[Path]:
    """The repository's files (relative): git's tracked and untracked-but-not-ignored, or a walk."""
    listed = None
    if (root / ".git").exists() and shutil.which("git"):
        proc = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                              cwd=root, capture_output=True, text=True)
        if proc.returncode == 0:
            listed = [Path(p) for p in proc.stdout.split("\0") if p]
    if listed is None:
        listed = [p.relative_to(root) for p in root.rglob("*")]
    return sorted(p for p in set(listed) if not _excluded(p) and (root / p).is_file())


def secret_lines(root: Path, modules: list[Module]) -> set[str]:
    """Lines (stripped) that occur inside solution regions and nowhere outside them."""
    inside: set[str] = set()
    outside: set[str] = set()
    for m in modules:
        source = (root / m.source).read_text(encoding="utf-8")
        region = notebook.solution_lines(source)
        for number, line in enumerate(source.splitlines(), start=1):
            text = line.strip()
            if text not in (notebook.BEGIN, notebook.END):
                (inside if number in region else outside).add(text)
    return {s for s in inside - outside if len(s) >= MIN_LINE}


def _copied(run: list[int], lines: list[str]) -> list[int]:
    """The lines of a run of solution lines that count as a copy."""
    if len(run) >= RUN:
        return run
    return [n for n in run if len(lines[n - 1].strip()) >= LONG_LINE]


def _copies(lines: list[str], secrets: set[str]) -> list[int]:
    """1-based numbers of the lines that copy solution code."""
    found: list[int] = []
    run: list[int] = []
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if text in secrets:
            run.append(number)
        elif text:  # blank lines neither break nor extend a run
            found += _copied(run, lines)
            run = []
    return found + _copied(run, lines)


def leaks(dest: Path, secrets: set[str]) -> list[str]:
    """`file:line: text` of every line of the edition that is part of a copy of solution code."""
    found = []
    for path in sorted(dest.rglob("*")):
        rel = path.relative_to(dest)
        if not path.is_file() or rel.parts[0] in UNSCANNED:
            continue
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (UnicodeDecodeError, OSError):
            continue  # binary data
        found += [f"{rel.as_posix()}:{n}: {lines[n - 1].strip()}" for n in _copies(lines, secrets)]
    return found


def _prepare(root: Path, dest: Path, force: bool) -> None:
    dest, here = dest.resolve(), root.resolve()
    if dest == here or here.is_relative_to(dest) or dest in (Path.home().resolve(), Path(dest.anchor)):
        raise TitoError(f"Refusing to write the student edition into {dest}.", "Choose a new, empty folder.")
    if dest.exists() and not dest.is_dir():
        raise TitoError(f"{dest} is a file.", "Choose a new, empty folder.")
    if dest.exists() and any(dest.iterdir()):
        if not force:
            raise TitoError(f"{dest} is not empty.", "Choose an empty folder, or pass --force to replace "
                                                     "its contents (they are deleted).")
        _clear(dest)
    dest.mkdir(parents=True, exist_ok=True)


def _clear(folder: Path) -> None:
    for child in folder.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def _check_sources(root: Path, modules: list[Module]) -> None:
    problems = [f"{m.source.as_posix()} {p}" for m in modules
                for p in validate.check(notebook.parse(root / m.source), m.slug)]
    if problems:
        raise TitoError("The reference modules have problems; nothing released:\n  " + "\n  ".join(problems))


def _git_commit(dest: Path) -> None:
    if not shutil.which("git"):
        raise TitoError(f"git is not installed: {dest} was written without a repository.")
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"],
                 ["-c", "user.name=TinyTorch release", "-c", "user.email=release@tinytorch.invalid",
                  "commit", "-q", "-m", "TinyTorch student edition"]):
        proc = subprocess.run(["git", *args], cwd=dest, env=env, capture_output=True, text=True)
        if proc.returncode:
            raise TitoError(f"git {args[-1]} failed in {dest}: {proc.stderr.strip()}")


def build_student(root: Path, dest: Path, force: bool = False) -> Edition:
    """Write the student edition of `root` into `dest` (see the module docstring)."""
    modules = available(root)
    _check_sources(root, modules)
    readme = root / STUDENT_README
    if not readme.is_file():
        raise TitoError(f"{STUDENT_README} is missing: it becomes the edition's README.md.")
    _prepare(root, dest, force)
    dest = dest.resolve()
    sources = {m.source: m for m in modules}
    generated = {m.export_target for m in MODULES} | {Path("README.md"), locks.LOCK_FILE}
    count = 0
    for rel in source_files(root):
        if rel in generated or (root / rel).resolve().is_relative_to(dest):
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if rel in sources:
            text = student_text(sources[rel], (root / rel).read_text(encoding="utf-8"))
            notebook.write_atomic(target, text)
            notebook.write_atomic(dest / released_copy(sources[rel]), text)
        else:
            shutil.copy2(root / rel, target)
        count += 1
    shutil.copy2(readme, dest / "README.md")
    locks.write(dest, locks.compute(root, modules))
    found = leaks(dest, secret_lines(root, modules))
    if found:
        _clear(dest)
        listing = "\n  ".join(found[:50])
        raise TitoError(f"Solution lines would leak into the edition; {dest} was emptied again:\n  {listing}",
                        "Each line above also appears inside a solution region of a module: remove it "
                        "from that file, or move it out of the region if it is plumbing students get.")
    _git_commit(dest)
    return Edition(count + 2, modules, exporter.provided_files(dest))
