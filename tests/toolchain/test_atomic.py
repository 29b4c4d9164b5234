"""tito.state.atomic.write_atomic: the old content or the new one, and the file's permissions kept."""

from __future__ import annotations

import os
import stat

import pytest

from tito.state.atomic import write_atomic


@pytest.mark.skipif(os.name == "nt", reason="POSIX permission bits")
def test_a_new_file_gets_the_usual_mode_and_a_replaced_one_keeps_its_own(tmp_path):
    mask = os.umask(0o022)
    try:
        new = tmp_path / "nbgrader_config.py"
        write_atomic(new, "c = get_config()\n")
        assert stat.S_IMODE(new.stat().st_mode) == 0o644  # readable by a TA's account, not 0600
        script = tmp_path / "run.sh"
        script.write_text("old\n")
        script.chmod(0o750)
        write_atomic(script, "new\n")
        assert script.read_text() == "new\n" and stat.S_IMODE(script.stat().st_mode) == 0o750
    finally:
        os.umask(mask)
    assert not list(tmp_path.glob(".*.tmp"))
