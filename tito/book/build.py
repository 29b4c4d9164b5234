"""The book's source folder (MyST pages, _config.yml, _toc.yml) and the Sphinx run that renders it.

Only changed pages are rewritten, so Sphinx (whose cache lives in _build/book-doctrees) rebuilds
only what changed. Nothing is executed: the chapters show prose, math and code.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tito.book import chapters, commands, pages
from tito.book.paths import DOCTREES, GENERATED, OUTPUT, SOURCE, chapter, milestone
from tito.course.edition import is_student_edition
from tito.errors import TitoError
from tito.registry import MILESTONES, TIERS, Module, available

MATHJAX = "mathjax/tex-chtml.js"  # served from the site: sphinx-mathjax-offline copies MathJax 3.2.2


@dataclass(frozen=True)
class Book:
    source: Path  # the generated MyST folder
    output: Path  # the website; output / "index.html"
    pages: list[str]
    student: bool


def _yaml(data: Any) -> str:
    return json.dumps(data, indent=1)  # JSON is YAML, and needs no YAML writer


def config(student: bool) -> dict:
    edition = "student edition" if student else "reference"
    return {
        "title": f"TinyTorch ({edition})" if not student else "TinyTorch",
        "author": "the TinyTorch course",
        "copyright": "the TinyTorch authors",
        "only_build_toc_files": True,
        "exclude_patterns": ["_build"],
        "execute": {"execute_notebooks": "off"},
        "html": {"use_repository_button": False, "use_issues_button": False,
                 "use_edit_page_button": False, "home_page_in_navbar": True,
                 "use_multitoc_numbering": False},
        "launch_buttons": {"thebe": False},
        "sphinx": {
            "extra_extensions": ["sphinx-mathjax-offline", "tito.book.sphinx_offline"],
            "config": {
                "mathjax_path": MATHJAX,
                "myst_heading_anchors": 3,
                "html_show_sourcelink": True,
                "html_show_search_summary": False,  # summaries fetch() pages: refused from file://
                "html_context": {"default_mode": "auto"},  # the theme's light/dark switch starts set
                "html_theme_options": {"search_bar_text": "Search the book...",
                                       "show_navbar_depth": 1, "use_download_button": False,
                                       "use_fullscreen_button": False},
                "suppress_warnings": ["myst.header"],
            },
        },
    }


def toc(modules: list[Module]) -> dict:
    parts: list[dict] = [{"caption": "The course", "chapters": [
        {"file": "tito"},
        {"file": pages.MILESTONES_INDEX, "sections": [{"file": milestone(m)} for m in MILESTONES]},
    ]}]
    for tier in TIERS:
        files = [{"file": chapter(m)} for m in modules if m.tier == tier]
        if files:
            parts.append({"caption": f"{tier} tier", "chapters": files})
    parts.append({"caption": "Teaching and writing", "chapters": [{"file": "instructors"},
                                                                   {"file": "module-format"}]})
    return {"format": "jb-book", "root": "index", "parts": parts}


def write_sources(root: Path, cli: Any, student: bool | None = None) -> Book:
    """Write every page of the book into root/_build/book-src (only what changed).

    `cli`: the root Click command of tito (`typer.main.get_command(app)`), for TITO essentials.
    `student`: the file as released instead of the reference (always so in a student edition).
    """
    student = is_student_edition(root) or bool(student)
    modules = available(root)
    anchors = commands.anchors(cli)
    texts: dict[str, str] = {
        "index": pages.document(root, "index", modules, anchors),
        "tito": commands.page(cli, modules),
        pages.MILESTONES_INDEX: pages.milestones_index(root, modules, anchors),
        "instructors": pages.document(root, "instructors", modules, anchors),
        "module-format": pages.document(root, "module-format", modules, anchors),
    }
    texts.update({milestone(m): pages.milestone_page(root, m, modules, anchors) for m in MILESTONES})
    texts.update({chapter(m): chapters.page(root, m, student, anchors) for m in modules})
    source = root / SOURCE
    files = {f"{name}.md": text for name, text in texts.items()}
    header = f"# {GENERATED.format(source='tito/book/build.py')}\n"
    files["_config.yml"] = header + _yaml(config(student)) + "\n"
    files["_toc.yml"] = header + _yaml(toc(modules)) + "\n"
    for stale in (p for p in source.rglob("*") if p.is_file()) if source.is_dir() else ():
        if stale.relative_to(source).as_posix() not in files:
            stale.unlink()
    for rel, text in files.items():
        path = source / rel
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    return Book(source, root / OUTPUT, list(texts), student)


def render(root: Path, book: Book, quiet: bool = True) -> Path:
    """Run Sphinx (jupyter-book 1.x's configuration) on the source folder; the site's index.html."""
    try:
        from jupyter_book.sphinx import build_sphinx
    except ImportError as exc:
        raise TitoError("jupyter-book is not installed, so the book cannot be built.",
                        "Install the book extra: pip install -e '.[book]' (or run `make book`).") from exc
    stamp = root / DOCTREES / "edition.txt"
    edition = "student" if book.student else "reference"
    if stamp.is_file() and stamp.read_text() != edition:  # the other edition's cache: start over
        shutil.rmtree(root / DOCTREES)
        shutil.rmtree(book.output, ignore_errors=True)
    result = build_sphinx(book.source, book.output, noconfig=True,
                          path_config=str(book.source / "_config.yml"),
                          confoverrides={"latex_individualpages": False},
                          doctreedir=str(root / DOCTREES), quiet=quiet, keep_going=True)
    if result != 0:
        raise TitoError(f"Sphinx could not build the book (status {result}).",
                        "The messages above name the page; `tito book build --verbose` shows more.")
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(edition)
    return book.output / "index.html"
