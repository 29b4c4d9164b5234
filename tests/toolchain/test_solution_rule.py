"""The solution-line rule (S2), stub messages that point at the explanation, and a library-like package."""

from __future__ import annotations

import pytest

from tito.course import exporter, notebook, release, solutions, stubs
from tito.course.leaks import Scanner
from tito.registry import available

from .conftest import REPO

META = '"locked": false, "schema_version": 3, "solution": true, "task": false}'
MODULE = '''# %% [markdown]
# ## 4. Matrix multiply
# Shapes first.

# %% nbgrader={"grade": false, "grade_id": "mm", META
#| export
class Tensor:
    def matmul(self, other):
        """Docstring."""
        # a plain comment stays
        # Hint: think about the shapes,
        #   then about the sum.
        ### BEGIN SOLUTION
        # a comment inside the region
        result_of_the_product = self.data @ other.data
        return result_of_the_product
        ### END SOLUTION

# %% [markdown]
# ## 5. Top level

# %% nbgrader={"grade": false, "grade_id": "top-level", META
### BEGIN SOLUTION
answer_at_module_level = 42
### END SOLUTION
'''.replace("META", META)


def test_solution_code_is_long_non_comment_lines_of_regions():
    assert solutions.solution_code(MODULE) == {"result_of_the_product = self.data @ other.data": 15,
                                               "return result_of_the_product": 16,
                                               "answer_at_module_level = 42": 24}


def test_regions_name_their_stub_and_section():
    found = [(r.name, r.section) for r in solutions.regions(MODULE)]
    assert found == [("Tensor.matmul", "4. Matrix multiply"), ("top-level", "5. Top level")]


def test_stub_message_names_the_section_and_the_hint_command():
    text = stubs.strip_solutions(MODULE, "01")
    assert ('raise NotImplementedError("Implement Tensor.matmul (module 01): see section '
            "'4. Matrix multiply' above; `tito hint 01 Tensor.matmul` gives hints\")") in text
    assert "result_of_the_product" not in text and "answer_at_module_level" not in text
    assert stubs.stub_names(text) == ["Tensor.matmul", "top-level"]
    compile(text, "stripped", "exec")


def test_stub_names_match_the_regions_of_every_module():
    for module in available(REPO):
        text = (REPO / module.source).read_text(encoding="utf-8")
        names = [r.name for r in solutions.regions(text)]
        assert stubs.stub_names(stubs.strip_solutions(text, module.number)) == list(dict.fromkeys(names))


@pytest.mark.parametrize("text, problem", [
    ("# %%\n### BEGIN SOLUTION\nx = 1\n", "never closed"),
    ("# %%\nx = 1\n### END SOLUTION\n", "without"),
    ("# %%\n### BEGIN SOLUTION\n### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n", "inside the region"),
])
def test_bad_markers_name_a_line(text, problem):
    with pytest.raises(ValueError, match=problem):
        solutions.regions(text)


def test_scanner_finds_solution_lines_as_substrings_whitespace_normalised():
    scanner = Scanner({"result = self.data @ other.data": "m.py:9"})
    text = "fine\n# e.g.   result  =  self.data   @ other.data + 1\nresult = self.data @ other\n"
    found = scanner.scan("docs/x.md", text)
    assert [(f.path, f.line, f.origin) for f in found] == [("docs/x.md", 2, "m.py:9")]
    assert str(found[0]) == "docs/x.md:2: result = self.data @ other.data  (solution line from m.py:9)"


def test_export_drops_markers_and_hint_comments():
    cells = notebook.parse_text(MODULE)[1]
    text = exporter.export_text(cells, "modules/source/01_tensor/01_tensor_dev.py")
    assert "SOLUTION" not in text and "Hint" not in text and "then about the sum" not in text
    assert "# a plain comment stays" in text and "# a comment inside the region" in text
    body = "        result_of_the_product = self.data @ other.data\n        return result_of_the_product"
    assert body in text


def test_library_lines_keeps_a_comment_that_is_not_a_continuation():
    lines = ["    # Hint: one", "    # two", "        # deeper: not the hint's", "    x = 1", "    # after"]
    assert exporter.library_lines(lines) == ["        # deeper: not the hint's", "    x = 1", "    # after"]


def test_every_module_keeps_its_solution_lines_to_its_regions():
    modules = available(REPO)
    found = release.edition_leaks(REPO, modules, release.plan(REPO, modules))
    assert found == [], "\n".join(str(f) for f in found)
