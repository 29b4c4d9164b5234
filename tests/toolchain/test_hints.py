"""`tito hint`: hints.md parsed, listed and shown one level at a time; every module's hints checked."""

from __future__ import annotations

import json

import pytest

from tito.course import hints
from tito.registry import available, get_module

from .conftest import REPO

HINTS = """# Hints for module 01 (toolchain fixture)

Read the prose first.

## Tensor.add
Asks: TRANSLATE

### 1. The idea
Add element by element.

### 2. The math
out[i] = a[i] + b[i]

```python
# a code comment, not a heading
### neither is this
```

### 3. The shape of the code
One NumPy operation on the two arrays, wrapped in a new Tensor.

## Tensor.scale
Asks: DESIGN - how to scale

### 1. The idea
Every element times one number.

### 2. The math
out[i] = factor * a[i]
"""


@pytest.fixture
def hinted_repo(fake_repo):
    (fake_repo / "modules/source/01_tensor/hints.md").write_text(HINTS)
    return fake_repo


def seen(repo) -> dict:
    return json.loads((repo / ".tito/progress.json").read_text())["hints"]


def test_parse_levels_and_fenced_code():
    parsed = hints.parse(HINTS)
    assert parsed.problems == []
    add = parsed.sections["Tensor.add"]
    assert [(lv.number, lv.title) for lv in add.levels] == [(1, "The idea"), (2, "The math"),
                                                           (3, "The shape of the code")]
    assert "### neither is this" in add.levels[1].text and add.levels[0].text == "Add element by element."


@pytest.mark.parametrize("text, problem", [
    ("## f\n\n### 1. a\nx\n### 3. b\ny\n", "level 3 should be numbered 2"),
    ("## f\n\n### 1. a\nx\n", "'f' has 1 level(s); give 2 to 4"),
    ("## f\n### 1. a\nx\n### 2. b\n\n", "'f' level 2 is empty"),
    ("## f\nsome text\n### 1. a\nx\n### 2. b\ny\n", "text under '## f' before its '### 1.' level"),
    ("## f\nAsks: EASY\n### 1. a\nx\n### 2. b\ny\n", "needs one 'Asks: COPY'"),
    ("## f\nAsks: COPY\nAsks: DESIGN\n### 1. a\nx\n### 2. b\ny\n", "needs one 'Asks: COPY'"),
    ("## f\n### 1. a\nx\n#### deeper\n### 2. b\ny\n", "must read '### N. title'"),
    ("## f\n### 1. a\nx\n### 2. b\ny\n## f\n### 1. a\nx\n### 2. b\ny\n", "a second section '## f'"),
    ("## f\n### 1. a\n```\nx\n### 2. b\ny\n", "unclosed"),
])
def test_parse_reports_format_problems(text, problem):
    assert any(problem in p for p in hints.parse(text).problems), hints.parse(text).problems


def test_check_names_missing_and_unknown_sections(hinted_repo):
    module = get_module("01")
    assert hints.check(hinted_repo, module) == []
    path = hinted_repo / "modules/source/01_tensor/hints.md"
    path.write_text(HINTS.replace("## Tensor.scale", "## Tensor.scal"))
    problems = hints.check(hinted_repo, module)
    assert any("no section '## Tensor.scale'" in p for p in problems)
    assert any("section 'Tensor.scal' names no stub" in p for p in problems)
    path.unlink()
    assert hints.check(hinted_repo, module) == ["modules/source/01_tensor/hints.md: missing (every module "
                                                "with stubs has one)"]


def test_list_shows_stubs_and_counts(hinted_repo, tito):
    result = tito(hinted_repo, "hint", "01")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(ln.split()[:4] == ["Tensor.add", "TRANSLATE", "3", "0"] for ln in lines), result.output
    assert any(ln.split()[:4] == ["Tensor.scale", "DESIGN", "2", "0"] for ln in lines), result.output
    assert "Tensor.scale: how to scale" in result.output  # what a DESIGN stub leaves to the student


def test_parse_reads_what_each_stub_asks():
    parsed = hints.parse(HINTS)
    assert parsed.sections["Tensor.add"].asks == "TRANSLATE"
    assert (parsed.sections["Tensor.scale"].asks, parsed.sections["Tensor.scale"].decision) == (
        "DESIGN", "how to scale")
    assert hints.parse("## f\nasks: copy\n### 1. a\nx\n### 2. b\ny\n").sections["f"].asks == "COPY"


def test_levels_come_one_at_a_time_and_are_remembered(hinted_repo, tito):
    first = tito(hinted_repo, "hint", "01", "Tensor.add")
    assert first.exit_code == 0 and "Hint 1 of 3" in first.output and "Add element by element" in first.output
    assert "out[i]" not in first.output
    assert seen(hinted_repo) == {"01": {"Tensor.add": 1}}
    second = tito(hinted_repo, "hint", "01", "tensor.ADD")  # case does not matter
    assert "Hint 2 of 3" in second.output and "out[i] = a[i] + b[i]" in second.output
    assert "Add element by element" not in second.output
    assert "Hint 3 of 3" in tito(hinted_repo, "hint", "01", "Tensor.add").output
    again = tito(hinted_repo, "hint", "01", "Tensor.add")
    assert "seen all 3 hints" in again.output and "Hint 3 of 3" in again.output
    assert seen(hinted_repo)["01"]["Tensor.add"] == 3
    assert "3 of 3 seen" in tito(hinted_repo, "hint", "01").output


def test_level_all_and_reset(hinted_repo, tito):
    result = tito(hinted_repo, "hint", "01", "Tensor.scale", "--level", "2")
    assert "Hint 2 of 2" in result.output and "Hint 1 of 2" not in result.output
    assert seen(hinted_repo)["01"] == {"Tensor.scale": 2}
    result = tito(hinted_repo, "hint", "01", "Tensor.add", "--all")
    assert all(f"Hint {n} of 3" in result.output for n in (1, 2, 3))
    assert tito(hinted_repo, "hint", "01", "Tensor.add", "--reset").exit_code == 0
    assert seen(hinted_repo)["01"] == {"Tensor.scale": 2}
    assert tito(hinted_repo, "hint", "01", "--reset").exit_code == 0
    assert seen(hinted_repo).get("01", {}) == {}
    bad = tito(hinted_repo, "hint", "01", "Tensor.add", "--level", "4")
    assert bad.exit_code == 1 and "levels 1 to 3; there is no level 4" in bad.output


def test_unknown_name_lists_close_matches(hinted_repo, tito):
    result = tito(hinted_repo, "hint", "01", "Tensor.ad")
    assert result.exit_code == 1
    assert "no stub named 'Tensor.ad'" in result.output and "Did you mean: Tensor.add" in result.output


def test_a_module_without_hints_says_so(fake_repo, tito):
    listing = tito(fake_repo, "hint", "01")
    assert listing.exit_code == 0 and "has no hints yet" in listing.output
    assert "Tensor.scale" in listing.output
    result = tito(fake_repo, "hint", "01", "Tensor.add")
    assert result.exit_code == 1 and "Module 01 has no hints" in result.output


def test_hints_work_in_the_student_edition(hinted_repo, tito, tmp_path):
    dest = tmp_path / "student"
    assert tito(hinted_repo, "release", "student", str(dest)).exit_code == 0
    assert (dest / "modules/source/01_tensor/hints.md").read_text() == HINTS
    result = tito(dest, "hint", "01", "Tensor.scale")
    assert result.exit_code == 0 and "Every element times one number" in result.output


def test_a_stub_without_hints_is_flagged(hinted_repo, tito):
    path = hinted_repo / "modules/source/01_tensor/hints.md"
    path.write_text(HINTS[:HINTS.index("## Tensor.scale")])
    result = tito(hinted_repo, "hint", "01")
    rows = result.output.splitlines()
    assert any(ln.split()[:3] == ["Tensor.scale", "?", "0"] and "no hints" in ln for ln in rows)


@pytest.mark.parametrize("module", available(REPO), ids=lambda m: m.name)
def test_every_stub_of_every_module_has_hints(module):
    problems = hints.check(REPO, module)
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("module", available(REPO), ids=lambda m: m.name)
def test_every_module_asks_students_to_decide(module):
    """Each stub says what it asks (COPY, TRANSLATE, DESIGN); at most a third COPY, at least one DESIGN."""
    problems = hints.balance(REPO, module)
    assert problems == [], "\n".join(problems)


def test_balance_names_what_is_missing(hinted_repo):
    module = get_module("01")
    assert hints.balance(hinted_repo, module) == []
    path = hinted_repo / "modules/source/01_tensor/hints.md"
    path.write_text(HINTS.replace("Asks: DESIGN - how to scale", "Asks: COPY"))
    problems = hints.balance(hinted_repo, module)
    assert any("1 of 2 stubs are COPY (Tensor.scale); at most a third" in p for p in problems), problems
    assert any("no stub asks for a DESIGN decision" in p for p in problems), problems
    path.write_text(HINTS.replace("Asks: TRANSLATE\n", ""))
    assert any("'Tensor.add' has no 'Asks:' line" in p for p in hints.balance(hinted_repo, module))


def test_a_hints_file_that_is_not_utf8_is_named(hinted_repo, tito):
    (hinted_repo / "modules/source/01_tensor/hints.md").write_bytes(b"## Tensor.add\n### 1. a\ncaf\xe9\n")
    result = tito(hinted_repo, "hint", "01", "Tensor.add")
    assert result.exit_code == 1 and "hints.md is not UTF-8 text: byte 0xe9 on line 3" in result.output


def test_the_listing_names_each_stubs_section_and_warns_about_format(hinted_repo, tito):
    path = hinted_repo / "modules/source/01_tensor/hints.md"
    path.write_text(HINTS.replace("### 2. The math\nout[i] = factor", "### 3. The math\nout[i] = factor"))
    result = tito(hinted_repo, "hint", "01")
    assert "Module 01: Tensor (toolchain fixture)" in result.output  # the heading above the stubs
    assert "'Tensor.scale' level 3 should be numbered 2" in result.output


def test_a_class_name_means_its_only_stub_never_a_same_named_function():
    from tito.cli.hint import _resolve
    from tito.errors import TitoError
    from tito.registry import get_module

    known = ["conv2d", "Conv2d.__init__", "Pool.forward", "Pool.backward"]
    assert _resolve(get_module("09"), "Conv2d", known) == "Conv2d.__init__"
    assert _resolve(get_module("09"), "CONV2D", known) == "conv2d"
    with pytest.raises(TitoError, match="Pool has 2 stubs: Pool.forward, Pool.backward"):
        _resolve(get_module("09"), "Pool", known)
