"""A module file with a byte that is not UTF-8: the message names the file, the line and the byte."""

from __future__ import annotations

import pytest

from tito.course.sources import read_source
from tito.errors import TitoError

SOURCE = "modules/source/01_tensor/01_tensor_dev.py"


def spoil(repo) -> int:
    """Put a Latin-1 'é' (0xe9) into a comment of the fixture module; return its line."""
    path = repo / SOURCE
    text = path.read_text()
    line = text[:text.index("def scale(self, factor):")].count("\n") + 1
    data = text.encode().replace(b"def scale(self, factor):", b"def scale(self, factor):  # caf\xe9", 1)
    path.write_bytes(data)
    return line


def test_read_source_names_file_line_and_byte(fake_repo):
    line = spoil(fake_repo)
    with pytest.raises(TitoError) as caught:
        read_source(fake_repo / SOURCE, fake_repo)
    assert caught.value.message == f"{SOURCE} line {line}: byte 0xe9 is not UTF-8 (save the file as UTF-8)"
    assert "UTF-8" in caught.value.hint


def test_read_source_reads_utf8(fake_repo):
    path = fake_repo / SOURCE
    path.write_text(path.read_text() + "# café, naïve, 张量\n", encoding="utf-8")
    assert read_source(path).endswith("# café, naïve, 张量\n")


@pytest.mark.parametrize("command", ["complete", "test"])
def test_complete_and_test_name_the_byte(fake_repo, tito, command):
    line = spoil(fake_repo)
    result = tito(fake_repo, "module", command, "01")
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert f"{SOURCE} line {line}: byte 0xe9 is not UTF-8" in result.output


def test_doctor_names_the_byte(fake_repo, tito):
    line = spoil(fake_repo)
    result = tito(fake_repo, "system", "doctor")
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert f"problem: {SOURCE} line {line}: byte 0xe9 is not UTF-8" in result.output
    assert "fix: Re-save the file as UTF-8" in result.output
