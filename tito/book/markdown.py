"""Links between the book's pages, made from what the sources already say.

Markdown links to repository files become links to the page that shows the file (a module file
to its chapter, docs/INSTRUCTORS.md to the Instructors page, ...) or, when the book has no such
page, plain text naming the path. An inline `tito noun verb ...` becomes a link to that command
on the TITO essentials page. Fenced code is left alone.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterator

_LINK = re.compile(r"(?<!!)\[(?P<text>[^\]\n]+)\]\((?P<target>[^)\s]+)\)")
_CODE = re.compile(r"(?<!\[)`(?P<code>tito [^`\n]+)`")
_FENCE = re.compile(r"^\s*(`{3,}|~{3,}|:{3,})")
_EXTERNAL = ("http://", "https://", "mailto:")


def href(page: str, target: str) -> str:
    """A link from `page` to `target` (page names without suffix, `target` may hold #anchor)."""
    name, _, anchor = target.partition("#")
    rel = posixpath.relpath(f"{name}.md", posixpath.dirname(page) or ".")
    return f"{rel}#{anchor}" if anchor else rel


def _prose_lines(text: str) -> Iterator[tuple[bool, str]]:
    """(is prose, line) for every line: lines inside a fenced code block are not prose."""
    fence = None
    for line in text.split("\n"):
        match = _FENCE.match(line)
        if fence is None and match and match.group(1)[0] != ":":
            fence = match.group(1)
            yield False, line
        elif fence is not None:
            if line.strip().startswith(fence) and not line.strip().strip(fence[0]):
                fence = None
            yield False, line
        else:
            yield True, line


def map_prose(text: str, change: Callable[[str], str]) -> str:
    return "\n".join(change(line) if prose else line for prose, line in _prose_lines(text))


def rewrite_links(text: str, source: str, page: str, pages: dict[str, str]) -> str:
    """Links of `text` (the file `source`, relative to the root) rewritten for `page`.

    `pages`: repository path (a file, or a folder without the slash) -> the book page showing it.
    """
    folder = posixpath.dirname(source)

    def one(match: re.Match) -> str:
        label, target = match.group("text"), match.group("target")
        if target.startswith(_EXTERNAL):
            return match.group(0)
        if target.startswith("#"):
            return match.group(0)
        path, _, anchor = target.partition("#")
        repo_path = posixpath.normpath(posixpath.join(folder, path)).rstrip("/")
        if repo_path in pages:
            return f"[{label}]({href(page, pages[repo_path])})"
        shown = label.strip("`")
        return label if shown in (repo_path, path.rstrip("/")) else f"{label} (`{repo_path}`)"

    return map_prose(text, lambda line: _LINK.sub(one, line))


def link_commands(text: str, page: str, anchors: dict[str, str]) -> str:
    """Every inline `tito ...` naming a command of `anchors` (`"module start"` -> anchor on the
    TITO essentials page) made a link to it; the longest command name that matches wins."""

    def one(match: re.Match) -> str:
        words = match.group("code").split()[1:]
        for n in (2, 1):
            name = " ".join(words[:n])
            if len(words) >= n and name in anchors:
                return f"[{match.group(0)}]({href(page, 'tito#' + anchors[name])})"
        return match.group(0)

    return map_prose(text, lambda line: _CODE.sub(one, line))
