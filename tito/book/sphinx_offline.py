"""A Sphinx extension of the book's build: pages without what needs a server or the internet.

jupyter-book 1.x always loads sphinx-thebe, whose scripts run code cells on a remote Jupyter
server (thebe itself comes from unpkg.com when a reader presses "run"). This book runs nothing,
and jupyter-book adds thebe's configuration script twice to every page, which the browser
reports as a SyntaxError; so its scripts and stylesheet are left out of every page.
"""

from __future__ import annotations

from typing import Any


def _not_thebe(asset: Any) -> bool:
    name = getattr(asset, "filename", None) or str(asset)
    body = str(getattr(asset, "attributes", {}).get("body", ""))
    return "thebe" not in name.lower() and "THEBE" not in body


def _drop_thebe(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    for key in ("script_files", "css_files"):
        if key in context:
            context[key] = [asset for asset in context[key] if _not_thebe(asset)]


def setup(app: Any) -> dict:
    app.connect("html-page-context", _drop_thebe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
