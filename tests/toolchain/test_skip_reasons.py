"""A skipped package test shows why in tito's counts (e.g. PyTorch comparisons without torch)."""

from tito.run.pipeline import counts
from tito.run.runner import Outcome, Report, _parse_junit

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="3">
<testcase classname="tests.13_transformers.test_vs_torch" name="test_block" line="10">
<skipped type="pytest.skip" message="could not import 'torch': No module named 'torch'">skip</skipped>
</testcase>
<testcase classname="tests.13_transformers.test_vs_torch" name="test_gpt" line="20">
<skipped type="pytest.skip" message="could not import 'torch': No module named 'torch'">skip</skipped>
</testcase>
<testcase classname="tests.13_transformers.test_gpt" name="test_shape" line="5"/>
</testsuite></testsuites>
"""


def test_skip_reasons_are_read_and_shown_once(tmp_path):
    xml = tmp_path / "report.xml"
    xml.write_text(JUNIT)
    outcomes = _parse_junit(xml, limit=60)
    assert [o.skipped for o in outcomes] == [True, True, False]
    assert outcomes[0].message == "could not import 'torch': No module named 'torch'"
    text = counts(Report(outcomes))
    assert text.startswith("1 passed, 0 failed, 2 skipped (PyTorch is not installed, so the comparisons "
                           "with PyTorch did not run; `make oracle` installs"), text


def test_a_skip_without_reason_says_so():
    assert counts(Report([Outcome("t", True, skipped=True)])) == "0 passed, 0 failed, 1 skipped"
