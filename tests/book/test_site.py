"""The built book, read as files: nothing loads from the internet, every internal link resolves,
no solution line shows, and the pages say where they come from."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from tito.book import chapters
from tito.book.paths import SOURCE
from tito.course.leaks import Scanner, solution_code_of
from tito.registry import MODULES, TIERS, get_module

pytestmark = pytest.mark.book
ROOT = Path(__file__).resolve().parents[2]

# What makes a browser fetch a URL: an element's src, a stylesheet/script/icon/preload link's
# href, CSS's @import and url(), and the same inside <style> and style="" in HTML.
_SRC = re.compile(r"""\s(?:src|srcset|poster|data)\s*=\s*["']?\s*(https?:)?//""", re.I)
_LINK_TAG = re.compile(r"<link\b[^>]*>", re.I)
_LOADING_REL = re.compile(
    r"""rel\s*=\s*["']?[^"'>]*\b(stylesheet|preload|modulepreload|icon|prefetch|manifest)""", re.I)
_HREF_REMOTE = re.compile(r"""href\s*=\s*["']?\s*(https?:)?//""", re.I)
_CSS_IMPORT = re.compile(r"""@import\s+(?:url\(\s*)?["']?\s*(https?:)?//""", re.I)
_CSS_URL = re.compile(r"""url\(\s*["']?\s*(https?:)?//""", re.I)


def _text_files(site: Path, *suffixes: str) -> list[Path]:
    return [p for p in site.rglob("*") if p.is_file() and p.suffix in suffixes]


def remote_loads(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8", errors="replace")
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        hits = [m.group(0) for pattern in (_CSS_IMPORT, _CSS_URL) for m in pattern.finditer(line)]
        if path.suffix == ".html":
            hits += [m.group(0) for m in _SRC.finditer(line)]
            hits += [tag for tag in _LINK_TAG.findall(line)
                     if _LOADING_REL.search(tag) and _HREF_REMOTE.search(tag)]
        found += [f"{path}:{number}: {hit.strip()[:120]}" for hit in hits]
    return found


def test_nothing_is_loaded_from_the_internet(book):
    files = _text_files(book, ".html", ".css", ".js")
    assert len(files) > 50
    found = [hit for f in files for hit in remote_loads(f)]
    assert not found, "pages load from outside the site:\n" + "\n".join(found[:20])


def test_the_scanner_sees_a_remote_load(tmp_path):
    page = tmp_path / "p.html"
    page.write_text('<link rel="stylesheet" href="https://cdn.example/x.css">\n'
                    '<script src="//cdn.example/x.js"></script>\n<a href="https://example.org">ok</a>\n'
                    '<style>@import url("https://fonts.example/f.css");</style>\n')
    lines = {hit.split(": ")[0].rsplit(":", 1)[1] for hit in remote_loads(page)}
    assert lines == {"1", "2", "4"}  # not the link a reader follows (line 3)


_ATTR = re.compile(r"""\s(?:href|src)\s*=\s*"([^"]*)\"""", re.I)
_ID = re.compile(r"""\sid\s*=\s*"([^"]+)\"""", re.I)


def test_every_internal_link_resolves(book):
    ids: dict[Path, set[str]] = {}

    def anchors(page: Path) -> set[str]:
        if page not in ids:
            ids[page] = set(_ID.findall(page.read_text(encoding="utf-8", errors="replace")))
        return ids[page]

    broken, checked = [], 0
    pages = [p for p in _text_files(book, ".html") if "_static" not in p.relative_to(book).parts]
    for page in pages:  # (_static/ holds the theme's Jinja templates too: not pages)
        for raw in _ATTR.findall(page.read_text(encoding="utf-8", errors="replace")):
            link = html.unescape(raw)
            parts = urlsplit(link)
            if parts.scheme or link.startswith("//") or not link or link.startswith("javascript:"):
                continue  # an external link (followed by the reader, never loaded) or none
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if target.is_dir():
                target = target / "index.html"
            checked += 1
            if not target.is_file():
                broken.append(f"{page.relative_to(book)}: {link} (no file)")
            elif (parts.fragment and target.suffix == ".html"
                  and unquote(parts.fragment) not in anchors(target)):
                broken.append(f"{page.relative_to(book)}: {link} (no id {parts.fragment!r})")
    assert checked > 500
    assert not broken, f"{len(broken)} broken internal links:\n" + "\n".join(broken[:30])


def _visible_text(path: Path) -> str:
    """A page's text as a reader sees it: tags dropped, entities decoded, lines kept."""
    text = path.read_text(encoding="utf-8", errors="replace")
    return html.unescape(re.sub(r"<[^>]+>", "", text)) if path.suffix == ".html" else text


def test_no_solution_line_shows_in_the_students_book(book, edition):
    scanner = Scanner(solution_code_of(ROOT, list(MODULES)))
    files = [p for p in (*book.rglob("*"), *(edition / SOURCE).rglob("*"))
             if p.is_file() and p.suffix in (".html", ".md", ".txt", ".js")
             and "mathjax" not in p.parts]
    leaks = [leak for f in files for leak in scanner.scan(str(f), _visible_text(f))]
    assert not leaks, "\n".join(map(str, leaks[:20]))


def test_the_scanner_finds_solutions_in_the_reference_chapter():
    """The check above can fail: the reference chapter (solutions shown) trips it."""
    module = get_module("02")
    scanner = Scanner(solution_code_of(ROOT, [module]))
    assert scanner.scan("02", chapters.page(ROOT, module, student=False, commands={}))
    assert not scanner.scan("02", chapters.page(ROOT, module, student=True, commands={}))


def test_the_chapters_are_grouped_by_tier_as_the_registry_says(book):
    index = (book / "index.html").read_text(encoding="utf-8")
    captions = [html.unescape(c) for c in re.findall(r'<p [^>]*class="caption"[^>]*><span[^>]*>(.*?)</span>',
                                                     index, re.S)]
    assert [c for c in captions if c.endswith(" tier")] == [f"{t} tier" for t in TIERS]
    for m in MODULES:
        assert f'href="chapters/{m.name}.html"' in index, m.name


def test_hints_fold_one_level_at_a_time(book, edition):
    page = (book / "chapters" / "01_tensor.html").read_text(encoding="utf-8")
    first = page.index("Hint 1 for")
    second = page.index("Hint 2 for", first)
    between = page[first:second]
    assert "<details" in page[:first][-400:] and "<details" in between and "</details>" not in between


def test_the_build_warns_of_nothing(book, edition):
    """Sphinx's warnings (a link MyST cannot resolve, a bad directive) fail the book."""
    log = (edition / "_build" / "book-build.log").read_text(encoding="utf-8")
    assert "WARNING" not in log and "ERROR" not in log, log


def test_every_page_says_it_is_generated(edition):
    sources = [p for p in (edition / SOURCE).rglob("*") if p.suffix in (".md", ".yml")]
    assert len(sources) == 6 + 5 + len(MODULES) + 2
    assert all("Generated by `tito book build`" in p.read_text(encoding="utf-8").split("\n")[0]
               for p in sources)


def test_tito_essentials_has_every_command_and_chapters_link_to_it(book):
    import typer

    from tito.book.commands import walk
    from tito.cli import app

    essentials = (book / "tito.html").read_text(encoding="utf-8")
    for command in walk(typer.main.get_command(app)):
        assert f'id="{command.anchor.replace("_", "-")}"' in essentials, command.name
    chapter = (book / "chapters" / "05_autograd.html").read_text(encoding="utf-8")
    assert 'href="../tito.html#tito-module-complete"' in chapter
    assert 'href="../milestones/M05.html"' in chapter or 'href="../milestones/M01.html"' in chapter
    milestone = (book / "milestones" / "M04.html").read_text(encoding="utf-8")
    assert 'href="../chapters/09_spatial.html"' in milestone
    assert 'href="../tito.html#tito-milestone-run"' in milestone


def test_module_start_prints_the_chapter(book, edition):
    done = subprocess.run([sys.executable, "-m", "tito", "module", "start", "03"], cwd=edition,
                          capture_output=True, text=True, env={**os.environ, "CI": "1"})
    assert f"Chapter: {book / 'chapters' / '03_layers.html'}" in done.stdout, done.stdout + done.stderr
