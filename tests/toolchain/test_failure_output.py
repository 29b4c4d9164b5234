"""What a student sees when a test fails or never ends: the test's name, the failing statement (not its
`def` line), which check of test_module failed, and the whole assertion message within bounds."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tito.cli.render import MAX_LINES, bounded

SOURCE = "modules/source/01_tensor/01_tensor_dev.py"
SUITE = "tests/01_tensor/test_tensor.py"
ADD_ASSERT = 'assert result.data.tolist() == [4.0, 6.0], f"add gave {result.data.tolist()}"'
POSIX = pytest.mark.skipif(os.name == "nt", reason="SIGALRM")


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def line_of(path: Path, fragment: str) -> int:
    lines = path.read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if fragment in line)


def append(path: Path, code: str) -> None:
    path.write_text(path.read_text() + "\n\n" + code.strip() + "\n")


@pytest.fixture
def exported(fake_repo: Path, tito) -> Path:
    assert tito(fake_repo, "export", "01").exit_code == 0
    return fake_repo


# --- per-test time limit -------------------------------------------------------------------------


@POSIX
def test_an_endless_inline_test_is_stopped_and_named_and_the_rest_is_not_run(exported, tito):
    source = exported / SOURCE
    edit(source, '    print("checking add")', '    print("checking add")\n    while True:\n        pass')
    result = tito(exported, "module", "test", "01", "--timeout", "1")
    assert result.exit_code == 1
    assert f"FAILED test_unit_add (line {line_of(source, 'while True:')})" in result.output
    assert "did not finish within 1 s (an endless loop?), so the tests after it were not run" in result.output
    assert "Inline tests: 0 passed, 1 failed, 2 skipped (0/10 points)" in result.output


@POSIX
def test_a_test_that_blocks_the_alarm_is_stopped_by_tito_which_names_it(exported, tito):
    blocked = "    import signal\n    signal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
    edit(exported / SOURCE, '    print("checking add")', f"{blocked}    while True:\n        pass")
    result = tito(exported, "module", "test", "01", "--timeout", "1")
    assert result.exit_code == 1
    assert "test_unit_add did not finish within 1 s (an endless loop?); the test process was stopped" \
        in result.output


@POSIX
def test_an_endless_loop_while_importing_the_file_is_named(exported, tito):
    append(exported / SOURCE, "while True:\n    pass")
    result = tito(exported, "module", "test", "01", "--timeout", "1")
    assert result.exit_code == 1
    assert "importing 01_tensor_dev.py did not finish within 1 s" in result.output
    assert f"stopped at line {line_of(exported / SOURCE, 'while True:')}: while True:" in result.output


def test_an_endless_package_test_is_stopped_and_named_and_the_rest_is_not_run(exported, tito):
    append(exported / SUITE, "def test_forever():\n    while True:\n        pass\n\n\n"
                             "def test_after():\n    assert False, 'must not run'")
    result = tito(exported, "module", "test", "01", "--timeout", "1")
    assert result.exit_code == 1
    line = line_of(exported / SUITE, "while True:")
    assert f"FAILED tests/01_tensor/test_tensor.py::test_forever (line {line})" in result.output
    assert "did not finish within 1 s (an endless loop?), so the tests after it were not run" in result.output
    assert "Package tests (tests/01_tensor): 2 passed, 1 failed" in result.output
    assert "must not run" not in result.output


def test_timeout_must_be_positive(exported, tito):
    result = tito(exported, "module", "test", "01", "--timeout", "0")
    assert result.exit_code == 2 and "--timeout" in result.output


# --- the failing statement, the check, the whole message ------------------------------------------


def test_inline_failure_names_the_statement_and_the_check_of_test_module(exported, tito):
    source = exported / SOURCE
    edit(source, "self.data + other.data", "self.data - other.data")
    result = tito(exported, "module", "test", "01")
    line = line_of(source, ADD_ASSERT)
    assert f"FAILED test_unit_add (line {line})\n" in result.output
    assert f"FAILED test_module (line {line}, in test_unit_add)" in result.output
    assert f"> {ADD_ASSERT}" in result.output
    assert "AssertionError: add gave [-2.0, -2.0]" in result.output


def test_inline_failure_inside_the_students_code_shows_the_check_and_where_it_raised(exported, tito):
    source = exported / SOURCE
    edit(source, "self.data + other.data", "self.data + other")
    result = tito(exported, "module", "test", "01")
    check = line_of(source, "result = Tensor([1, 2]).add(Tensor([3, 4]))")
    raised = line_of(source, "summed_fixture_values = self.data + other")
    assert f"FAILED test_unit_add (line {check})\n" in result.output
    assert "> result = Tensor([1, 2]).add(Tensor([3, 4]))" in result.output
    assert f"raised at line {raised}, in add: summed_fixture_values = self.data + other" in result.output
    assert f"FAILED test_module (line {check}, in test_unit_add)" in result.output
    assert "TypeError" in result.output


def test_a_bare_assert_in_test_module_shows_which_check_failed(exported, tito):
    source = exported / SOURCE
    check = "    assert Tensor([3]).scale(2).data.tolist() == [7.0]\n"
    calls = "    test_unit_add()\n    test_unit_scale()\n"
    edit(source, calls, calls + check)
    result = tito(exported, "module", "test", "01")
    assert f"FAILED test_module (line {line_of(source, '== [7.0]')})" in result.output
    assert "> assert Tensor([3]).scale(2).data.tolist() == [7.0]" in result.output


ROWS = """
def test_rows():
    import numpy as np
    got = np.arange(24).reshape(12, 2)
    want = got.copy()
    want[9, 1] = -1
    check(got, want)


def check(got, want):
    assert (got == want).all(), f"wrong values:\\n{got}\\nexpected:\\n{want}"
"""


def test_package_failure_shows_the_statement_the_helper_and_the_whole_message(exported, tito):
    suite = exported / SUITE
    append(suite, ROWS)
    result = tito(exported, "module", "test", "01")
    line = line_of(suite, "assert (got == want)")
    assert f"FAILED tests/01_tensor/test_tensor.py::test_rows (line {line}, in check)" in result.output
    assert '> assert (got == want).all(), f"wrong values:\\n{got}\\nexpected:\\n{want}"' in result.output
    assert "[18 19]" in result.output and "[18 -1]" in result.output, "the wrong row is hidden"


def test_inline_failure_shows_the_whole_message(exported, tito):
    source = exported / SOURCE
    edit(source, "def test_unit_scale():\n",
         "def test_unit_scale():\n    import numpy as np\n    got = np.arange(24).reshape(12, 2)\n"
         "    want = got.copy()\n    want[9, 1] = -1\n"
         "    assert (got == want).all(), f'wrong values:\\n{got}\\nexpected:\\n{want}'\n")
    result = tito(exported, "module", "test", "01")
    assert "[18 19]" in result.output and "[18 -1]" in result.output, "the wrong row is hidden"


def test_package_failure_inside_the_package_points_at_the_tests_statement(exported, tito):
    suite = exported / SUITE
    append(suite, "def test_none():\n    x = 1\n    Tensor([1]).add(None)")
    result = tito(exported, "module", "test", "01")
    assert f"FAILED tests/01_tensor/test_tensor.py::test_none (line {line_of(suite, 'add(None)')})" \
        in result.output
    assert "| tinytorch/tensor.py:" in result.output  # where below the test it went wrong


def test_long_messages_are_bounded_and_say_so():
    text = "\n".join(f"row {i}" for i in range(100))
    shown = bounded(text)
    assert len(shown) == MAX_LINES + 1 and shown[-1] == "... (70 more line(s) not shown)"
    shown = bounded("x" * 5000)
    assert shown[0] == "x" * 3000 and re.fullmatch(r"\.\.\. \(2000 more characters not shown\)", shown[-1])
    assert bounded("short\nmessage") == ["short", "message"]


# --- bounded output ------------------------------------------------------------------------------


def test_captured_output_keeps_its_start_and_end_and_counts_the_cut():
    from tito.run.child import BoundedText

    text = BoundedText(head=10, tail=20)
    for n in range(100_000):
        assert text.write(f"line {n}\n") == len(f"line {n}\n")
    value = text.getvalue()
    assert value.startswith("line 0\nlin") and value.endswith("line 99999\n") and len(value) < 100
    assert f"[... {text.total - 30:,} characters of output cut ...]" in value
    short = BoundedText()
    print("hello", file=short)
    assert short.getvalue() == "hello\n"


def test_a_log_is_read_as_its_start_and_end(tmp_path):
    from tito.run.watch import head_and_tail

    with open(tmp_path / "log", "w+b") as log:
        log.write(b"start " + b"x" * 10_000 + b" end")
        log.flush()
        assert head_and_tail(log, keep=6) == "start \n[... 9,998 bytes of output cut ...]\nxx end"
        assert head_and_tail(log, keep=10_000).startswith("start xx")


@POSIX
def test_an_endless_print_in_an_inline_test_costs_no_memory(exported, tito):
    """print() into the captured output: only its start and end are kept; the time limit stops it."""
    edit(exported / SOURCE, '    print("checking add")', '    while True:\n        print("spam " * 100)')
    result = tito(exported, "module", "test", "01", "--timeout", "2")
    assert result.exit_code == 1
    assert "test_unit_add" in result.output and "did not finish within 2 s" in result.output


@POSIX
def test_a_package_test_that_floods_its_output_is_stopped_and_says_so(exported, tito):
    """Writing straight to the output (past pytest's capture, into its file): at the file size limit
    the write fails (Python ignores SIGXFSZ), and the failure says why, in bounded output."""
    append(exported / SUITE, "def test_flood():\n    import os\n    while True:\n"
                             "        os.write(1, b'flood ' * 10_000)")
    result = tito(exported, "module", "test", "01", "--timeout", "60")
    assert result.exit_code == 1
    assert "FAILED tests/01_tensor/test_tensor.py::test_flood" in result.output
    assert "File too large (a test process may write at most 128 MB to one file: an endless print?)" \
        in result.output, result.output[-2000:]
    assert len(result.output) < 20_000
