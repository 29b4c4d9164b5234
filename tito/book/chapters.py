"""A module file (jupytext percent format) -> a chapter of the book (MyST markdown).

Markdown cells are the chapter's prose; code cells are shown as code, never executed. After each
code cell that holds stubs come that stub's hints from `hints.md`, folded one level at a time:
level 2 is inside level 1's fold, so a reader opens them in order, as `tito hint` gives them.
The reference book shows the reference; a student edition's book the file as released.
"""

from __future__ import annotations

import re
from pathlib import Path

import jupytext

from tito.book.markdown import href, link_commands
from tito.book.paths import GENERATED, chapter, milestone
from tito.course import hints
from tito.course.edition import is_student_edition, released_copy, released_text
from tito.course.sources import read_source
from tito.course.stubs import stub_names
from tito.registry import MILESTONES, Module, get_module


def _fence(code: str, info: str) -> str:
    ticks = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", code)), default=0))
    return f"{ticks}{info}\n{code}\n{ticks}"


def _folded(section: hints.Section, index: int = 0) -> str:
    """Level `index` of a stub's hints, with the levels after it folded inside it."""
    level = section.levels[index]
    colons = ":" * (3 + len(section.levels) - index)
    inner = [level.text]
    if index + 1 < len(section.levels):
        inner += ["", _folded(section, index + 1)]
    title = f"Hint {level.number} for `{section.name}`: {level.title}"
    return "\n".join([f"{colons}{{dropdown}} {title}", *inner, colons])


def hint_block(section: hints.Section) -> str:
    asks = f"Asks: {section.asks}" + (f" ({section.decision})" if section.decision else "")
    return "\n".join([f"*Hints for `{section.name}`, one level at a time* ({asks}; "
                      f"`tito hint` gives the same):", "", _folded(section)])


def _header(module: Module, page: str, commands: dict[str, str]) -> str:
    needs = ", ".join(f"[{p} {get_module(p).title}]({href(page, chapter(get_module(p)))})"
                      for p in module.prerequisites) or "nothing before it"
    unlocks = [f"[{m.id} · {m.year} {m.title}]({href(page, milestone(m))})" for m in MILESTONES
               if m.unlocked_by == module.number]
    needed_by = [f"[{m.id}]({href(page, milestone(m))})" for m in MILESTONES
                 if module.number in m.requires and m.unlocked_by != module.number]
    steps = " → ".join(f"`tito module {verb} {module.number}`" for verb in ("start", "test", "complete"))
    lines = [f":::{{admonition}} Module {module.number} · {module.tier} tier", ":class: note",
             f"**Builds on:** {needs}.  ", f"**Proves:** {module.capability}.  ",
             f"**Work on it:** {steps}; stuck on a stub: `tito hint {module.number}`."]
    if unlocks:
        lines.append(f"  \n**Unlocks:** {', '.join(unlocks)}.")
    if needed_by:
        lines.append(f"  \n**Used by milestones:** {', '.join(needed_by)}.")
    lines.append(":::")
    return link_commands("\n".join(lines), page, commands)


def _notebook(text: str) -> list:
    return jupytext.reads(text, fmt="py:percent").cells


def page(root: Path, module: Module, student: bool, commands: dict[str, str]) -> str:
    """The chapter of `module`; `student`: the file as released (stubs), not the reference."""
    released = released_text(root, module)
    shown = released if student else read_source(root / module.source, root)
    source = (released_copy(module) if is_student_edition(root) else module.source).as_posix()
    cells, stub_cells = _notebook(shown), _notebook(released)
    if len(cells) != len(stub_cells):
        raise ValueError(f"{module.source}: the released file has {len(stub_cells)} cells, not {len(cells)}")
    found = hints.load(root, module)
    sections = found.sections if found else {}
    name = chapter(module)
    out = [f"% {GENERATED.format(source=source + (' (as released)' if student else ''))}", ""]
    shown_hints: set[str] = set()
    header = _header(module, name, commands)
    for cell, stub_cell in zip(cells, stub_cells):
        text = cell.source.strip("\n")
        if cell.cell_type == "markdown":
            if header and text.startswith("# "):  # the chapter's title, then the header
                title, _, text = text.partition("\n")
                out += [title, "", header, ""]
                header = ""
            out += [link_commands(text, name, commands), ""]
        elif text:
            grading = cell.metadata.get("nbgrader", {})
            if grading.get("grade") and grading.get("points"):
                out += [f"*Graded test `{grading.get('grade_id')}`: {grading['points']} points "
                        f"(locked: `tito grade {module.number}` scores it).*", ""]
            out += [_fence(text, "python"), ""]
            for stub in stub_names(stub_cell.source):
                if stub in sections and stub not in shown_hints:
                    out += [hint_block(sections[stub]), ""]
                    shown_hints.add(stub)
    return "\n".join(out)
