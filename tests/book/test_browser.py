"""The student's book in a real browser: Debian's Chromium, headless, over the DevTools protocol.

The index and a module chapter render (theme, navigation, the chapter's title), math renders
(MathJax's output elements in the DOM, its fonts from the site), search finds a word offline,
no page logs an error, and no request leaves the machine: every URL the browser asked for is a
file of the site. Screenshots of the index and of module 14's chapter (its top, and its math) are saved to
_build/book-screenshots/ (or $TINYTORCH_SCREENSHOTS) and their paths printed.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from tests.book.chromium import Browser, executable

pytestmark = pytest.mark.book
ROOT = Path(__file__).resolve().parents[2]
LOCAL = ("file:", "data:", "blob:", "about:")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if executable() is None:
        pytest.skip("Chromium is not installed: `make chromium` installs Debian's (needs root and apt-get)")
    if importlib.util.find_spec("websocket") is None:
        pytest.skip("websocket-client is not installed: `make book-test` installs the book extra")
    chromium = Browser(tmp_path_factory.mktemp("chromium-profile"))
    yield chromium
    chromium.close()


@pytest.fixture(scope="module")
def shots() -> Path:
    return Path(os.environ.get("TINYTORCH_SCREENSHOTS") or ROOT / "_build" / "book-screenshots")


def test_index_and_a_chapter_render_with_math_offline(book, browser, shots, capsys):
    browser.open((book / "index.html").as_uri())
    assert browser.wait_for("document.querySelector('main h1')?.textContent.trim()").startswith("TinyTorch")
    assert browser.evaluate("document.querySelectorAll('nav.bd-docs-nav a.reference').length") >= 20 + 6
    sidebar = "getComputedStyle(document.querySelector('.bd-sidebar-primary')).display"
    assert browser.evaluate(sidebar) != "none"
    index_shot = browser.screenshot(shots / "index.png")

    browser.open((book / "chapters" / "14_profiling.html").as_uri())
    assert "Module 14" in browser.evaluate("document.querySelector('main h1').textContent")
    top_shot = browser.screenshot(shots / "chapter-14-top.png")
    math = browser.wait_for("document.querySelectorAll('mjx-container mjx-math').length", timeout=60)
    assert math >= 1, "MathJax rendered nothing on the chapter with Amdahl's law"
    assert browser.evaluate("document.querySelectorAll('details.sd-dropdown').length") > 0  # hints
    browser.evaluate("document.querySelector('mjx-container').scrollIntoView({block: 'center'})")
    chapter_shot = browser.screenshot(shots / "chapter-14.png")

    browser.open((book / "search.html").as_uri() + "?q=broadcasting")
    assert browser.wait_for("document.querySelectorAll('#search-results ul.search li').length", timeout=60)

    requests = browser.requests()
    assert any(url.endswith(".woff") for url in requests), "MathJax loaded no font"
    assert not [url for url in requests if not url.startswith(LOCAL)], "requests left the machine"
    assert not browser.errors(), "\n".join(browser.errors())
    with capsys.disabled():
        print(f"\nscreenshots: {index_shot} {top_shot} {chapter_shot} ({len(requests)} requests, all local)")
