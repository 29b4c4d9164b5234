"""`tito hint NN [NAME]`: a module's stubs and their hints, one level at a time."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Annotated

import typer

from tito import console
from tito.cli.base import ModuleArg, root, written_module
from tito.console import esc
from tito.course import hints
from tito.course.edition import released_text
from tito.course.stubs import stub_sections
from tito.errors import TitoError
from tito.registry import Module
from tito.state.progress import Progress


def hint(
    number: ModuleArg,
    name: Annotated[str | None, typer.Argument(
        metavar="[NAME]", show_default=False,
        help="The stub, as its message names it (e.g. Tensor.__init__).")] = None,
    level: Annotated[int | None, typer.Option("--level", metavar="K", show_default=False,
                                              help="Show hint level K (1 = the idea).")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Show every level of NAME's hints.")] = False,
    reset: Annotated[bool, typer.Option("--reset", help="Start NAME's (or all) hints over.")] = False,
) -> None:
    """List a module's stubs and their hints, or show NAME's next hint (one level at a time)."""
    base = root()
    module = written_module(base, number)
    sections = stub_sections(released_text(base, module))
    stubs = list(sections)
    found = hints.load(base, module)
    progress = Progress.load(base)
    seen = {stub: progress.hint_level(module.number, stub) for stub in stubs}
    if name is None:
        if level is not None or all_:
            raise TitoError("--level and --all need a stub NAME.", f"Example: `tito hint {module.number} "
                                                                  f"{stubs[0] if stubs else 'NAME'} --all`.")
        if reset:
            progress.reset_hints(module.number)
            progress.save()
            console.ok(f"Hints of module {module.number} start over from level 1.")
            return
        _list(base, module, sections, found, seen)
        return
    if found is None:
        raise TitoError(f"Module {module.number} has no hints ({_where(base, module)} does not exist).",
                        "Its prose and the docstring above each stub explain what to do.")
    name = _resolve(module, name, list(dict.fromkeys([*stubs, *found.sections])))
    section = found.sections.get(name)
    if section is None or not section.levels:
        raise TitoError(f"Module {module.number} has no hints for {name} yet.",
                        "The section named in its stub message explains it.")
    if reset:
        progress.reset_hints(module.number, name)
        progress.save()
        console.ok(f"Hints for {esc(name)} start over from level 1.")
        return
    total = len(section.levels)
    if level is not None and not 1 <= level <= total:
        raise TitoError(f"{name} has hint levels 1 to {total}; there is no level {level}.")
    before = progress.hint_level(module.number, name)
    shown = section.levels if all_ else [section.levels[(level or min(before + 1, total)) - 1]]
    if level is None and not all_ and before >= total:
        console.say(f"(You have seen all {total} hints for {esc(name)}; here is the last one again.)")
    for item in shown:
        _show(module, name, item, total, section.asks)
    reached = max(before, shown[-1].number)
    progress.set_hint_level(module.number, name, reached)
    progress.save()
    if reached < total:
        console.say(f"\nNext: `tito hint {module.number} {esc(name)}` shows hint {reached + 1} "
                    f"of {total}.")
    else:
        console.say("\nThat was the last hint: the rest is yours.")


def _where(base: Path, module: Module) -> str:
    return hints.path(base, module).relative_to(base).as_posix()


def _resolve(module: Module, name: str, known: list[str]) -> str:
    """The stub the student means: exact; a class's only stub (`Conv2d` -> `Conv2d.__init__`); a name
    differing only in case; else an error listing close matches."""
    if name in known:
        return name
    members = [k for k in known if k.startswith(f"{name}.")]
    if len(members) == 1:
        return members[0]
    if members:
        raise TitoError(f"{name} has {len(members)} stubs: {', '.join(members)}.",
                        f"Name one, e.g. `tito hint {module.number} {members[0]}`.")
    folded = [k for k in known if k.lower() == name.lower()]
    if len(folded) == 1:
        return folded[0]
    close = difflib.get_close_matches(name, known, n=5, cutoff=0.5)
    close += [k for k in known if name.lower() in k.lower() and k not in close]
    suggestion = f"Did you mean: {', '.join(dict.fromkeys(close))}? " if close else ""
    raise TitoError(f"Module {module.number} has no stub named '{name}'.",
                    f"{suggestion}`tito hint {module.number}` lists its stubs.")


def _list(base: Path, module: Module, stubs: dict[str, str | None], found: hints.Hints | None,
          seen: dict[str, int]) -> None:
    console.heading(f"Module {module.number} {esc(module.title)}: {len(stubs)} stub(s)")
    if found is None:
        console.say(f"This module has no hints yet ({_where(base, module)} does not exist): its prose and "
                    "the docstring above each stub explain what to do.")
    elif found.problems:
        console.warn(f"{_where(base, module)} has format problems: " + "; ".join(found.problems[:3]))
    rows = []
    for name, section in stubs.items():
        part = found.sections.get(name) if found else None
        total = len(part.levels) if part else 0
        state = f"{min(seen.get(name, 0), total)} of {total} seen" if total else "[yellow]no hints[/]"
        asks = (part.asks if part else None) or "?"
        rows.append([esc(name), asks, str(total), state, esc(section or "")])
    console.table(["Stub", "Asks", "Hints", "Seen", "Explained in section"], rows)
    decisions = [(name, part.decision) for name in stubs
                 if found and (part := found.sections.get(name)) and part.asks == "DESIGN" and part.decision]
    if decisions:
        console.say("\nYours to decide (DESIGN: any approach that passes the tests is right):")
        for name, decision in decisions:
            console.say(f"  {esc(name)}: {esc(decision)}")
    if stubs and found is not None:
        console.say("\nAsks: COPY = the text shows the code; TRANSLATE = you turn the given math or "
                    "contract into code; DESIGN = you choose the approach.")
        console.say(f"`tito hint {module.number} NAME` shows NAME's next hint (the idea, then the math, "
                    "then the shape of the code); `--all` shows every level, `--reset` starts over.")


def _show(module: Module, name: str, level: hints.Level, total: int, asks: str | None) -> None:
    kind = f", asks: {asks}" if asks else ""
    console.heading(f"Hint {level.number} of {total} for {esc(name)} (module {module.number}{kind}): "
                    f"{esc(level.title)}")
    console.say(esc(level.text))
