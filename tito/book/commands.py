"""The TITO essentials page: every command of the CLI, walked from its command tree.

The page is made from the Click command objects Typer builds (`typer.main.get_command(app)`):
their help text, arguments and options. A new command or option shows up in the next build,
and a removed one disappears: the page cannot drift from the CLI.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from typing import Any

from tito.book.markdown import href
from tito.book.paths import GENERATED, chapter, milestone
from tito.registry import MILESTONES, Module

PAGE = "tito"


@dataclass(frozen=True)
class Command:
    path: tuple[str, ...]  # ("module", "start")
    obj: Any  # the Click command

    @property
    def name(self) -> str:
        return " ".join(self.path)

    @property
    def anchor(self) -> str:
        """The anchor MyST links by (`tito module start` -> tito-module-start; an underscore stays,
        though the HTML id Sphinx writes for it has a hyphen)."""
        return "-".join(("tito", *self.path)).lower()


def walk(root: Any) -> list[Command]:
    """Every visible command below `root` (a Click group), groups before their commands, in the
    order the CLI lists them."""
    found: list[Command] = []

    def visit(obj: Any, path: tuple[str, ...]) -> None:
        if getattr(obj, "hidden", False):
            return
        if path:
            found.append(Command(path, obj))
        for name, sub in getattr(obj, "commands", {}).items():
            visit(sub, (*path, name))

    visit(root, ())
    return found


def anchors(root: Any) -> dict[str, str]:
    """`"module start"` -> the anchor of its heading, for every command (groups included)."""
    return {c.name: c.anchor for c in walk(root)}


def _help(obj: Any) -> str:
    text = inspect.cleandoc(obj.help or obj.short_help or "")
    return re.sub(r"\[/?(bold|green|yellow|red|dim|italic)\]", "", text)  # Rich markup, if any


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _argument(p: Any) -> str:
    return (p.metavar or p.name).strip("[]").upper()


def _usage(command: Command) -> str:
    words = ["tito", *command.path]
    params = [p for p in command.obj.params if p.param_type_name == "argument"]
    for p in params:
        name = _argument(p)
        words.append(name if p.required else f"[{name}]")
    if any(p.param_type_name == "option" for p in command.obj.params):
        words.append("[OPTIONS]")
    return " ".join(words)


def _param_rows(obj: Any) -> list[str]:
    rows = []
    for p in obj.params:
        flag = getattr(p, "is_flag", False)
        if p.param_type_name == "argument":
            name = _argument(p)
        else:
            name = ", ".join(p.opts + p.secondary_opts)
            if not flag and p.metavar:
                name += f" {p.metavar}"
        default = "" if p.required or p.default in (None, False, ()) or flag else f"{p.default}"
        rows.append(f"| `{name}` | {_cell(getattr(p, 'help', '') or '')} | {_cell(default)} |")
    return rows


def _group_links(command: Command, modules: list[Module]) -> list[str]:
    if command.path == ("module",):
        return ["Chapters: " + " · ".join(f"[{m.number} {m.title}]({href(PAGE, chapter(m))})"
                                          for m in modules), ""]
    if command.path == ("milestone",):
        return ["Milestone pages: " + " · ".join(f"[{ms.id} {ms.title}]({href(PAGE, milestone(ms))})"
                                                 for ms in MILESTONES), ""]
    return []


def page(root: Any, modules: list[Module]) -> str:
    """The TITO essentials page (MyST markdown)."""
    lines = [f"% {GENERATED.format(source='the command tree of tito/cli/')}", "",
             "# TITO essentials", "",
             "Every command of `tito`, its arguments and its options, taken from the command line "
             "itself when this book was built (`tito COMMAND --help` prints the same).", "",
             "```text", _usage(Command((), root)).replace(" [OPTIONS]", "") + " COMMAND ...", "```", ""]
    everything = walk(root)
    for command in everything:
        depth = "##" if len(command.path) == 1 else "###"
        lines += [f"{depth} `tito {command.name}`", "", _help(command.obj), ""]
        if hasattr(command.obj, "commands"):
            lines += _group_links(command, modules)
            lines += [f"- [`tito {c.name}`](#{c.anchor}): {_cell(_help(c.obj).split(chr(10))[0])}"
                      for c in everything if c.path[:-1] == command.path] + [""]
            continue
        lines += ["```text", _usage(command), "```", ""]
        rows = _param_rows(command.obj)
        if rows:
            lines += ["| argument or option | what | default |", "|---|---|---|", *rows, ""]
    return "\n".join(lines)
