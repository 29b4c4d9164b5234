#!/usr/bin/env python3
"""Build ``datasets/tinydigits.npz`` from the UCI optical-digits data (1,797 8x8 images).

This is how the shipped file was made; running it again gives identical arrays (and, with the
same zlib, an identical file). It needs only NumPy and the standard library. The input is the
UCI "Optical Recognition of Handwritten Digits" test partition (Alpaydin & Kaynak, 1998,
CC BY 4.0): either the copy scikit-learn bundles (``sklearn/datasets/data/digits.csv.gz``) or
UCI's own ``optdigits.tes``; both are 1,797 comma-separated rows of 64 pixels (0..16) + label.

scikit-learn is NOT a TinyTorch dependency. Use a throwaway environment outside the repo:

    python3 -m venv /tmp/skl && /tmp/skl/bin/pip install scikit-learn
    /tmp/skl/bin/python datasets/make_tinydigits.py            # write datasets/tinydigits.npz
    /tmp/skl/bin/python datasets/make_tinydigits.py --check    # compare with the shipped file

or, without scikit-learn, ``python datasets/make_tinydigits.py --source path/to/optdigits.tes``.

Split: stratified and seeded. Every sample gets a key ``SHA-256("tinydigits/<seed>/<index>")``;
within each digit class the ``TEST_PER_CLASS`` samples with the smallest keys form the test set.
Hashing (instead of a NumPy RNG) keeps the split identical across NumPy and Python versions.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import io
import sys
import zipfile
from pathlib import Path

import numpy as np

SEED = 1998
TEST_PER_CLASS = 36  # 10 classes x 36 = 360 test images; the other 1,437 are for training
N_SAMPLES = 1797
NUM_CLASSES = 10
OUT = Path(__file__).resolve().parent / "tinydigits.npz"
# Keys of the .npz, in the order they are written.
KEYS = ("x_train", "y_train", "x_test", "y_test", "idx_train", "idx_test")


def find_sklearn_copy() -> Path:
    """Path of scikit-learn's bundled ``digits.csv.gz`` (located without importing sklearn)."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(
            "scikit-learn is not installed in this interpreter. Either run this script with a "
            "throwaway venv that has it (python3 -m venv /tmp/skl && /tmp/skl/bin/pip install "
            "scikit-learn) or pass --source path/to/optdigits.tes"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / "digits.csv.gz"
    if not path.is_file():
        raise SystemExit(f"scikit-learn is installed but {path} is missing")
    return path


def read_source(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read the UCI CSV (optionally gzipped): returns images uint8 (N,8,8) 0..16, labels int64."""
    table = np.loadtxt(path, delimiter=",", dtype=np.int64)  # np.loadtxt reads .gz transparently
    if table.shape != (N_SAMPLES, 65):
        raise SystemExit(f"{path}: expected {N_SAMPLES} rows of 65 integers, got shape {table.shape}")
    pixels, labels = table[:, :64], table[:, 64]
    if pixels.min() < 0 or pixels.max() > 16 or labels.min() < 0 or labels.max() >= NUM_CLASSES:
        raise SystemExit(f"{path}: pixels must lie in 0..16 and labels in 0..9")
    return pixels.astype(np.uint8).reshape(N_SAMPLES, 8, 8), labels.astype(np.int64)


def split_indices(
    labels: np.ndarray, seed: int = SEED, test_per_class: int = TEST_PER_CLASS
) -> tuple[np.ndarray, np.ndarray]:
    """Stratified, seeded split: (train indices, test indices), each sorted ascending, int64."""
    labels = np.asarray(labels)

    def key(i: int) -> bytes:
        return hashlib.sha256(f"tinydigits/{seed}/{i}".encode()).digest()

    test: list[int] = []
    for c in range(NUM_CLASSES):
        members = [int(i) for i in np.flatnonzero(labels == c)]
        if len(members) <= test_per_class:
            raise ValueError(f"class {c} has only {len(members)} samples")
        test.extend(sorted(members, key=key)[:test_per_class])
    test_idx = np.array(sorted(test), dtype=np.int64)
    train_idx = np.setdiff1d(np.arange(len(labels), dtype=np.int64), test_idx)
    return train_idx, test_idx


def build(source: Path) -> dict[str, np.ndarray]:
    """All arrays of tinydigits.npz, built from the UCI CSV at ``source``."""
    images, labels = read_source(source)
    train_idx, test_idx = split_indices(labels)
    return {
        "x_train": images[train_idx],
        "y_train": labels[train_idx],
        "x_test": images[test_idx],
        "y_test": labels[test_idx],
        "idx_train": train_idx,  # row numbers in the UCI file, for provenance
        "idx_test": test_idx,
    }


def fingerprint(arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 over every array's name, dtype, shape and bytes: equal iff the contents are equal."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write a compressed .npz that ``np.load`` reads, byte-for-byte reproducible.

    ``np.savez_compressed`` stamps the current time into the zip; this writes fixed metadata.
    """
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w") as zf:
        for name in KEYS:
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue(), compresslevel=9)
    tmp.replace(path)


def cross_check_with_sklearn(arrays: dict[str, np.ndarray]) -> str:
    """Compare with ``sklearn.datasets.load_digits()`` when scikit-learn is importable."""
    try:
        from sklearn.datasets import load_digits  # type: ignore[import-not-found]
    except ImportError:
        return "skipped (scikit-learn not importable)"
    images, target = load_digits(return_X_y=True)
    images = images.reshape(-1, 8, 8)
    for split in ("train", "test"):
        idx = arrays[f"idx_{split}"]
        if not (np.array_equal(images[idx], arrays[f"x_{split}"]) and
                np.array_equal(target[idx], arrays[f"y_{split}"])):
            raise SystemExit(f"{split} split disagrees with sklearn.datasets.load_digits()")
    return "matches sklearn.datasets.load_digits()"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, help="digits.csv.gz or optdigits.tes (default: sklearn copy)")
    parser.add_argument("--out", type=Path, default=OUT, help=f"output .npz (default: {OUT})")
    parser.add_argument("--check", action="store_true", help="compare with --out instead of writing it")
    args = parser.parse_args(argv)

    source = args.source or find_sklearn_copy()
    arrays = build(source)
    print(f"source: {source}")
    print(f"cross-check: {cross_check_with_sklearn(arrays)}")
    for name in KEYS:
        print(f"  {name:9s} {str(arrays[name].dtype):6s} {arrays[name].shape}")
    print(f"content sha256: {fingerprint(arrays)}")

    if args.check:
        with np.load(args.out, allow_pickle=False) as f:
            shipped = {k: f[k] for k in f.files}
        if set(shipped) != set(KEYS) or fingerprint(shipped) != fingerprint(arrays):
            print(f"MISMATCH: {args.out} differs from what this script builds", file=sys.stderr)
            return 1
        print(f"OK: {args.out} holds exactly these arrays")
        return 0

    write_npz(args.out, arrays)
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes, file sha256 {digest})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
