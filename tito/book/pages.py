"""The book's pages besides the chapters, made from the repository's own documents: getting
started (docs/STUDENT_README.md), the milestones guide (milestones/**/README.md, each script's
docstring and the registry), instructors (docs/INSTRUCTORS.md) and module format
(docs/MODULE_FORMAT.md)."""

from __future__ import annotations

import ast
from pathlib import Path

from tito.book.markdown import href, link_commands, rewrite_links
from tito.book.paths import GENERATED, chapter, milestone
from tito.course.sources import read_source
from tito.registry import MILESTONES, TIERS, Milestone, Module, get_module

DOCS = {"index": "docs/STUDENT_README.md", "instructors": "docs/INSTRUCTORS.md",
        "module-format": "docs/MODULE_FORMAT.md"}
MILESTONES_INDEX = "milestones/index"


def book_pages(modules: list[Module]) -> dict[str, str]:
    """Repository path (file, or folder without its slash) -> the page of the book showing it."""
    pages = {source: name for name, source in DOCS.items()}
    pages.update({"docs/CLI.md": "tito", "milestones": MILESTONES_INDEX,
                  "milestones/README.md": MILESTONES_INDEX})
    for m in MILESTONES:
        pages[m.path.as_posix()] = pages[(m.path / "README.md").as_posix()] = milestone(m)
    for m in modules:
        pages[m.source.as_posix()] = pages[m.source.parent.as_posix()] = chapter(m)
    return pages


def _document(root: Path, source: str, page: str, modules: list[Module], commands: dict[str, str]) -> str:
    text = read_source(root / source, root).strip("\n")
    text = rewrite_links(text, source, page, book_pages(modules))
    return link_commands(text, page, commands)


def _after_title(text: str, insert: str) -> str:
    title, _, rest = text.partition("\n")
    return f"{title}\n\n{insert}\n{rest}"


def _before_first_section(text: str, insert: str) -> str:
    at = text.find("\n## ")
    return text + "\n\n" + insert if at < 0 else f"{text[:at]}\n\n{insert}\n{text[at:]}"


def _chapter_link(page: str, m: Module) -> str:
    return f"[{m.number} {m.title}]({href(page, chapter(m))})"


def contents(modules: list[Module]) -> str:
    """The book's map for the getting-started page: pages, then every chapter by tier."""
    page = "index"
    lines = ["## This book", "",
             f"- [TITO essentials]({href(page, 'tito')}): every `tito` command, from the CLI itself.",
             f"- [Milestones guide]({href(page, MILESTONES_INDEX)}): six historical results re-run on "
             "the package you build.",
             f"- [Instructors]({href(page, 'instructors')}) and "
             f"[Module format]({href(page, 'module-format')}).",
             "", "The modules, by tier (each builds on the ones it names):", ""]
    for tier in TIERS:
        lines += [f"**{tier}**", "", "| module | you prove | builds on |", "|---|---|---|"]
        for m in (m for m in modules if m.tier == tier):
            needs = ", ".join(_chapter_link(page, get_module(p)) for p in m.prerequisites) or "—"
            lines.append(f"| {_chapter_link(page, m)} | {m.capability} | {needs} |")
        lines.append("")
    return "\n".join(lines)


def document(root: Path, name: str, modules: list[Module], commands: dict[str, str]) -> str:
    """Getting started, Instructors or Module format."""
    source = DOCS[name]
    text = _document(root, source, name, modules, commands)
    if name == "index":
        text = _before_first_section(text, contents(modules))
    return f"% {GENERATED.format(source=source)}\n\n{text}\n"


def _docstring(path: Path) -> str:
    try:
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    except (OSError, SyntaxError):
        return ""
    return " ".join(doc.split("\n\n")[0].split())


def milestone_page(root: Path, ms: Milestone, modules: list[Module], commands: dict[str, str]) -> str:
    page = milestone(ms)
    source = (ms.path / "README.md").as_posix()
    text = _document(root, source, page, modules, commands)
    written = {m.number for m in modules}
    needs = ", ".join(_chapter_link(page, get_module(n)) if n in written else f"{n} {get_module(n).title}"
                      for n in ms.requires)
    scripts = [f"- `{s}`: {_docstring(root / ms.path / s)}" for s in ms.scripts]
    box = [f":::{{admonition}} {ms.id} · {ms.year} · {ms.title}", ":class: tip",
           f"**Unlocked by:** {_chapter_link(page, get_module(ms.unlocked_by))}.  ",
           f"**Needs modules:** {needs}.  ",
           f"**Run it:** `tito milestone run {ms.id}` (`tito milestone status` shows whether it is "
           f"unlocked); the scripts, in order:", "", *scripts, ":::"]
    box_text = link_commands("\n".join(box), page, commands)
    return f"% {GENERATED.format(source=source + ', tito/registry.py and the scripts')}\n\n" \
           f"{_after_title(text, box_text)}\n"


def milestones_index(root: Path, modules: list[Module], commands: dict[str, str]) -> str:
    page = MILESTONES_INDEX
    source = "milestones/README.md"
    text = _document(root, source, page, modules, commands)
    pages = ["One page per milestone: its history, the modules it needs, what to expect and how to run it:",
             ""] + [f"- [{m.id} · {m.year} · {m.title}]({href(page, milestone(m))}), unlocked by "
                    f"{_chapter_link(page, get_module(m.unlocked_by))}" for m in MILESTONES]
    return f"% {GENERATED.format(source=source)}\n\n{_after_title(text, chr(10).join(pages))}\n"
