"""Write the student edition: the same repository with every solution replaced by a stub.

Nothing of the solutions may reach it: module files are stripped, tinytorch/ keeps only the
provided files, notebooks and caches stay behind, and it gets a fresh one-commit history.
Before anything is written, every text file of the planned edition is held to the solution-line
rule (tito/course/leaks.py). tito/ is scanned too: it has no course solutions, so the scan costs ~nothing
there, and it catches an overlap that matters (a student can read tito/ as well as docs/).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tito.course import exporter, locks, notebook, validate
from tito.course.edition import RELEASED, released_copy, student_text
from tito.course.leaks import Leak, scan_files, solution_code_of
from tito.course.solutions import solution_lines
from tito.course.sources import read_source
from tito.errors import TitoError
from tito.registry import MODULES, Module, available
from tito.state.atomic import write_atomic

EXCLUDED_DIRS = {".git", ".venv", "venv", ".tito", "__pycache__", ".pytest_cache", ".ruff_cache",
                 ".mypy_cache", ".hypothesis", ".ipynb_checkpoints", "build", "dist"}
EXCLUDED_SUFFIXES = (".pyc", ".ipynb")
STUDENT_README = Path("docs") / "STUDENT_README.md"


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
    courses = _course_folders(root, listed)
    return sorted(p for p in set(listed) if not _excluded(p) and (root / p).is_file()
                  and not any(p.is_relative_to(c) for c in courses))


def _course_folders(root: Path, listed: list[Path]) -> list[Path]:
    """Folders holding an nbgrader course (`tito nbgrader init`): its gradebook, submissions and
    feedback are the class's data, never part of a student edition."""
    return [rel.parent for rel in listed if rel.name == "nbgrader_config.py" and rel.parent != Path(".")
            and (root / rel).is_file()]


def plan(root: Path, modules: list[Module]) -> dict[Path, Path | str]:
    """The edition's files (relative): the file to copy, or the text to write."""
    sources = {m.source: m for m in modules}
    generated = {m.export_target for m in MODULES} | {Path("README.md"), locks.LOCK_FILE}
    files: dict[Path, Path | str] = {}
    for rel in source_files(root):
        if rel in generated:
            continue
        if rel in sources:
            text = student_text(sources[rel], read_source(root / rel, root))
            files[rel] = files[released_copy(sources[rel])] = text
        else:
            files[rel] = root / rel
    files[Path("README.md")] = root / STUDENT_README
    files[locks.LOCK_FILE] = locks.render(locks.compute(root, modules))
    return files


def _outside_regions(text: str) -> str:
    """The text with every line of its solution regions blanked (line numbers kept)."""
    inside = solution_lines(text)
    return "\n".join("" if n in inside else ln for n, ln in enumerate(text.splitlines(), start=1))


def edition_leaks(root: Path, modules: list[Module], files: dict[Path, Path | str]) -> list[Leak]:
    """The solution lines that the planned edition `files` would show. Module files are scanned
    as the reference outside its regions, so the lines named are the reference's."""
    scanned = {rel: content for rel, content in files.items() if rel.parts[:2] != RELEASED.parts}
    for m in modules:  # (the released copies are the same text)
        scanned[m.source] = _outside_regions(read_source(root / m.source, root))
    return scan_files(solution_code_of(root, modules), scanned)


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
    if not (root / STUDENT_README).is_file():
        raise TitoError(f"{STUDENT_README} is missing: it becomes the edition's README.md.")
    files = plan(root, modules)
    found = edition_leaks(root, modules, files)
    if found:
        listing = "\n  ".join(str(leak) for leak in found[:50])
        more = f"\n  ... and {len(found) - 50} more" if len(found) > 50 else ""
        raise TitoError(f"{len(found)} solution line(s) would show in the student edition; nothing "
                        f"was written:\n  {listing}{more}",
                        "A student must never see a line of a solution without asking: rewrite those "
                        "places (describe the idea, not the code), or move given plumbing out of the region.")
    _prepare(root, dest, force)
    dest = dest.resolve()
    for rel, content in files.items():
        target = dest / rel
        if isinstance(content, Path):
            if content.resolve().is_relative_to(dest):
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(content, target)
        else:
            write_atomic(target, content)
    _git_commit(dest)
    return Edition(len(files), modules, exporter.provided_files(dest))
