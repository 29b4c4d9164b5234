"""The mutation check itself, and the bar it holds every written module to."""

from __future__ import annotations

import pytest

from tito.errors import TitoError
from tito.registry import available
from tito.run import mutation

from .conftest import REPO

SOURCE = '''def f(a, b):
    ### BEGIN SOLUTION
    return (a - b).sum(axis=0, keepdims=True).T
    ### END SOLUTION


def g(a):
    return a - 1
'''


def test_mutants_touch_only_solution_regions():
    found = mutation.mutants(SOURCE)
    assert found and all(m.line == 3 for m in found)
    kinds = {m.description for m in found}
    assert {"'-' -> '+'", "operands swapped", "'sum' -> 'mean'", "'.T' dropped",
            "keyword 'axis' set to None", "True -> False"} <= kinds
    assert all(m.text.endswith("    return a - 1\n") for m in found)


def test_every_mutant_compiles_and_differs():
    for m in mutation.mutants(SOURCE):
        compile(m.text, "<mutant>", "exec")
        assert m.text != SOURCE


@pytest.mark.slow
@pytest.mark.parametrize("module", available(REPO), ids=lambda m: m.name)
def test_graded_tests_catch_at_least_90_percent_of_mutants(module):
    report = mutation.check(REPO / module.source, REPO)
    survivors = "\n".join(f"line {m.line}: {m.description}" for m in report.survivors)
    assert report.total > 0
    assert report.score >= 0.9, f"{module.name}: {report.score:.0%} caught; survivors:\n{survivors}"


# -- running mutants -----------------------------------------------------------------------------

PASSING = '''def add(a, b):
    ### BEGIN SOLUTION
    return a + b
    ### END SOLUTION


def test_unit_add():
    assert add(2, 3) == 5


def test_unit_add_again():
    assert add(1, 1) == 2
'''


def test_a_mutant_that_loops_forever_is_stopped_by_its_cpu_budget(tmp_path):
    """An endless loop that also blocks SIGALRM (so the wall-clock limit cannot interrupt it) ends
    after the CPU budget, and counts as caught."""
    looping = PASSING.replace("return a + b", "import signal\n    signal.pthread_sigmask(signal.SIG_BLOCK, "
                                              "[signal.SIGALRM])\n    while True:\n        pass")
    runner = mutation.Runner(REPO)
    try:
        report = runner.run(looping, cpu_limit=1)
    finally:
        runner.close()
    assert not report.ok
    first = report.failed[0]
    assert first.name == "test_unit_add" and "did not finish within 1 s of CPU time" in first.message


def test_a_mutant_stops_at_its_first_failing_test_and_output_cannot_confuse_the_runner(tmp_path):
    broken = PASSING.replace("return a + b", "import os\n    os.write(1, b'noise\\\\n')\n    return a - b")
    runner = mutation.Runner(REPO)
    try:
        report = runner.run(broken)
        full = runner.run(broken, first_failure=False)
    finally:
        runner.close()
    assert [o.name for o in report.failed] == ["test_unit_add"]
    assert [o.name for o in report.skipped] == ["test_unit_add_again"]
    assert [o.name for o in full.failed] == ["test_unit_add", "test_unit_add_again"]


def test_the_reference_must_pass_before_its_mutants_mean_anything(tmp_path):
    source = tmp_path / "broken_dev.py"
    source.write_text(PASSING.replace("== 5", "== 6"), encoding="utf-8")
    with pytest.raises(TitoError, match=r"fails its own tests \(test_unit_add\)"):
        mutation.check(source, REPO)


def test_every_mutant_of_a_file_is_judged(tmp_path):
    source = tmp_path / "ok_dev.py"
    source.write_text(PASSING, encoding="utf-8")
    report = mutation.check(source, REPO)
    assert report.total == len(mutation.mutants(PASSING)) > 0 and report.score == 1.0


REACH = '''import inspect

SCALE = 3  # the import runs this line: every test can notice it


def add(a, b):
    ### BEGIN SOLUTION
    return a + b
    ### END SOLUTION


def twice(a):
    ### BEGIN SOLUTION
    return a * 2
    ### END SOLUTION


def unused(a):
    ### BEGIN SOLUTION
    return a - 1
    ### END SOLUTION


def test_unit_add():
    assert add(2, 3) == 5


def test_unit_twice():
    assert twice(4) == 8


def test_unit_reads_the_source():
    assert "def add" in inspect.getsource(add)
'''


def test_a_mutant_runs_only_the_tests_that_reach_its_line():
    """Each test's lines are recorded on the reference; a mutant runs the tests that ran its statement
    (a test that read the source reached every line), every test when the import ran it, and none
    when no test did: it survives without a run, as it would have."""
    runner = mutation.Runner(REPO)
    try:
        recorded = runner.run(REACH, first_failure=False, record_lines=True)
    finally:
        runner.close()
    assert recorded.ok and set(recorded.lines["tests"]) == {"test_unit_add", "test_unit_twice",
                                                            "test_unit_reads_the_source"}
    assert recorded.lines["tests"]["test_unit_reads_the_source"] == "all"
    reach = mutation.TestsReaching(REACH, recorded.lines)
    line = REACH.splitlines().index

    assert reach.tests(line("    return a + b") + 1) == ["test_unit_add", "test_unit_reads_the_source"]
    assert reach.tests(line("    return a * 2") + 1) == ["test_unit_twice", "test_unit_reads_the_source"]
    assert reach.tests(line("    return a - 1") + 1) == ["test_unit_reads_the_source"]
    assert reach.tests(line("SCALE = 3  # the import runs this line: every test can notice it") + 1) is None
    assert mutation.TestsReaching(REACH, None).tests(1) is None  # nothing recorded: every test


def test_with_tests_chosen_by_reach_only_the_unreached_mutants_survive(tmp_path):
    source = tmp_path / "reach_dev.py"
    source.write_text(REACH.replace("inspect.getsource(add)", "'def add'"), encoding="utf-8")
    report = mutation.check(source, REPO)
    unused = REACH.splitlines().index("    return a - 1") + 1
    assert report.survivors and {m.line for m in report.survivors} == {unused}
    reached = [m for m in mutation.mutants(REACH) if m.line != unused]
    assert report.total - len(report.survivors) == len(reached)


@pytest.mark.slow
def test_the_package_check_lists_bugs_the_file_catches_and_its_package_suite_passes(fake_repo):
    """`tito dev mutate NN --package`: each mutant the inline tests catch runs against tests/NN_slug
    (exported to a staged package); the ones that pass it are listed. A suite that tests nothing
    misses them all; the fixture's real suite checks only the dtype of `scale`, so it misses a wrong
    `scale` and catches a wrong `add`."""
    from tito.registry import get_module

    module = get_module("01")
    source, suite = fake_repo / module.source, fake_repo / module.tests / "test_tensor.py"
    real = suite.read_text()
    suite.write_text("import tinytorch.tensor\n\n\ndef test_imports():\n    assert tinytorch.tensor.Tensor\n")
    weak = mutation.check(source, fake_repo, package=module)
    caught = weak.total - len(weak.survivors)
    assert caught > 0 and len(weak.package_misses) == caught
    suite.write_text(real)
    strong = mutation.check(source, fake_repo, package=module)
    scale = source.read_text().splitlines().index("        return Tensor(self.data * float(factor))") + 1
    assert strong.package_misses and {m.line for m in strong.package_misses} == {scale}
    assert len(strong.package_misses) < caught
    assert not list((fake_repo / ".tito" / "staging").glob("*"))  # every staged package removed
