"""tinytorch.datasets: TinyDigits as shipped, and MNIST / CIFAR-10 read from tiny files written
in the real formats (IDX, gzipped or not; python-pickle CIFAR batches; the official tar.gz).

No test touches the network: an autouse fixture makes every socket connection fail, and the
download tests use file:// URLs or a replaced ``_fetch``.
"""

from __future__ import annotations

import ast
import gzip
import hashlib
import importlib.util
import io
import pickle
import socket
import struct
import tarfile
import urllib.error
import warnings
from pathlib import Path

import numpy as np
import pytest

from tinytorch import datasets as td

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "datasets" / "make_tinydigits.py"
# Content fingerprint of datasets/tinydigits.npz, as printed by datasets/make_tinydigits.py.
TINYDIGITS_FINGERPRINT = "21ffa84ae3cb8405cefd343486bcaf414d3bb600049066cad888b8b7db3c5575"


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise OSError("network access is disabled in tests")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("make_tinydigits", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def shipped() -> dict[str, np.ndarray]:
    with np.load(td.TINYDIGITS_FILE, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


# ---------------------------------------------------------------------------------------------
# TinyDigits
# ---------------------------------------------------------------------------------------------


def test_tinydigits_shapes_dtypes_and_ranges():
    splits = td.load_tinydigits()
    assert isinstance(splits, td.Splits)
    x_train, y_train, x_test, y_test = splits
    assert x_train.shape == (1437, 8, 8) and x_test.shape == (360, 8, 8)
    assert x_train.dtype == np.float32 and x_test.dtype == np.float32
    assert y_train.shape == (1437,) and y_test.shape == (360,)
    assert y_train.dtype == np.int64 and y_test.dtype == np.int64
    assert x_train.min() == 0.0 and x_train.max() == 1.0 and x_test.max() <= 1.0
    assert set(np.unique(y_train)) == set(range(10)) == set(np.unique(y_test))


def test_tinydigits_raw_values_are_block_counts():
    raw = td.load_tinydigits(normalize=False)
    assert raw.x_train.dtype == np.uint8 and raw.x_train.max() == 16
    norm = td.load_tinydigits()
    np.testing.assert_array_equal(norm.x_test * 16, raw.x_test.astype(np.float32))


def test_tinydigits_class_balance():
    _, y_train, _, y_test = td.load_tinydigits()
    assert np.bincount(y_test, minlength=10).tolist() == [36] * 10
    train_counts = np.bincount(y_train, minlength=10)
    assert train_counts.sum() == 1437 and train_counts.min() >= 135 and train_counts.max() <= 150


def test_tinydigits_file_is_small_and_has_the_documented_arrays(shipped):
    assert td.TINYDIGITS_FILE.stat().st_size < 100_000
    assert set(shipped) == {"x_train", "y_train", "x_test", "y_test", "idx_train", "idx_test"}
    assert shipped["x_train"].dtype == np.uint8 and shipped["idx_test"].dtype == np.int64


def test_tinydigits_split_is_disjoint_and_complete(shipped):
    train, test = shipped["idx_train"], shipped["idx_test"]
    assert len(np.intersect1d(train, test)) == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(1797))
    assert np.all(np.diff(train) > 0) and np.all(np.diff(test) > 0)  # UCI row order kept


def test_tinydigits_split_is_deterministic_and_reproduced_by_the_script(script, shipped):
    labels = np.empty(1797, dtype=np.int64)  # labels in UCI row order, rebuilt from the file
    labels[shipped["idx_train"]] = shipped["y_train"]
    labels[shipped["idx_test"]] = shipped["y_test"]
    train, test = script.split_indices(labels)
    np.testing.assert_array_equal(train, shipped["idx_train"])
    np.testing.assert_array_equal(test, shipped["idx_test"])
    again = script.split_indices(labels)
    np.testing.assert_array_equal(again[1], test)
    other_seed = script.split_indices(labels, seed=script.SEED + 1)[1]
    assert not np.array_equal(other_seed, test)
    assert np.bincount(labels[other_seed]).tolist() == [36] * 10


def test_tinydigits_content_matches_the_fingerprint(script, shipped):
    assert script.fingerprint(shipped) == TINYDIGITS_FINGERPRINT


def test_script_writes_identical_files(script, shipped, tmp_path):
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    script.write_npz(a, shipped)
    script.write_npz(b, shipped)
    assert a.read_bytes() == b.read_bytes()
    assert td.load_tinydigits(a, normalize=False).x_test.tobytes() == shipped["x_test"].tobytes()


def test_script_builds_the_file_from_a_uci_csv(script, shipped, tmp_path):
    # Rebuild the UCI CSV (64 pixels + label per row, like optdigits.tes) and run the script on it.
    x = np.empty((1797, 8, 8), dtype=np.int64)
    y = np.empty(1797, dtype=np.int64)
    for split in ("train", "test"):
        x[shipped[f"idx_{split}"]] = shipped[f"x_{split}"]
        y[shipped[f"idx_{split}"]] = shipped[f"y_{split}"]
    csv = tmp_path / "optdigits.tes"
    np.savetxt(csv, np.column_stack([x.reshape(1797, 64), y]), fmt="%d", delimiter=",")
    out = tmp_path / "rebuilt.npz"
    assert script.main(["--source", str(csv), "--out", str(out)]) == 0
    assert script.main(["--source", str(csv), "--out", str(td.TINYDIGITS_FILE), "--check"]) == 0
    with np.load(out) as f:
        assert script.fingerprint({k: f[k] for k in f.files}) == TINYDIGITS_FINGERPRINT


def test_tinydigits_is_learnable_by_nearest_centroid():
    x_train, y_train, x_test, y_test = td.load_tinydigits()
    x_train, x_test = x_train.reshape(len(x_train), -1), x_test.reshape(len(x_test), -1)
    centroids = np.stack([x_train[y_train == k].mean(axis=0) for k in range(10)])
    distances = ((x_test[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=-1)
    accuracy = (distances.argmin(axis=1) == y_test).mean()
    assert accuracy > 0.85, f"nearest-centroid accuracy {accuracy:.3f}: is the data noise?"


def test_tinydigits_missing_and_malformed_files(tmp_path):
    missing = tmp_path / "nope.npz"
    with pytest.raises(td.DatasetNotFoundError, match="nope.npz") as info:
        td.load_tinydigits(missing)
    assert isinstance(info.value, FileNotFoundError) and info.value.missing == [missing]
    np.savez(tmp_path / "wrong.npz", x_train=np.zeros((2, 8, 8), np.uint8))
    with pytest.raises(td.DatasetFormatError, match="missing array"):
        td.load_tinydigits(tmp_path / "wrong.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    with pytest.raises(td.DatasetFormatError):
        td.load_tinydigits(tmp_path / "junk.npz")


def test_datasets_module_imports_no_other_tinytorch_module():
    tree = ast.parse(Path(td.__file__).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            assert not any(a.name.startswith("tinytorch") for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0 and not (node.module or "").startswith("tinytorch")


# ---------------------------------------------------------------------------------------------
# MNIST: IDX files written byte by byte
# ---------------------------------------------------------------------------------------------


def idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    """IDX: 0x00 0x00, type byte, ndim byte, big-endian uint32 dims, then the data."""
    header = struct.pack(">BBBB", 0, 0, type_code, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def write(path: Path, data: bytes, gz: bool) -> Path:
    path = path.with_name(path.name + ".gz") if gz else path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


def make_mnist(root: Path, kind: str = "train", n: int = 5, gz: bool = True, seed: int = 0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    image_name, label_name = td.MNIST_FILES[kind]
    write(root / image_name, idx_bytes(images), gz)
    write(root / label_name, idx_bytes(labels), gz)
    return images, labels


@pytest.mark.parametrize("gz", [True, False], ids=["gzipped", "raw"])
@pytest.mark.parametrize("kind", ["train", "test"])
def test_mnist_reads_real_idx_files(tmp_path, kind, gz):
    images, labels = make_mnist(tmp_path, kind, n=6, gz=gz)
    x, y = td.load_mnist(tmp_path, kind)
    assert x.shape == (6, 28, 28) and x.dtype == np.float32
    assert y.dtype == np.int64
    np.testing.assert_allclose(x, images / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y, labels)
    raw, _ = td.load_mnist(tmp_path, kind, normalize=False)
    assert raw.dtype == np.uint8
    np.testing.assert_array_equal(raw, images)
    raw[0, 0, 0] = 7  # writable, not a view of a read-only buffer


def test_mnist_mixed_gzip_and_misnamed_gzip(tmp_path):
    images, labels = make_mnist(tmp_path, "test", n=3, gz=False)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    write(tmp_path / "t10k-labels-idx1-ubyte", idx_bytes(labels), gz=True)
    np.testing.assert_array_equal(td.load_mnist(tmp_path, "test")[1], labels)
    # A gzipped file without .gz in its name is still read (gzip is detected by content).
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(gzip.compress(idx_bytes(images)))
    np.testing.assert_array_equal(td.load_mnist(tmp_path, "test", normalize=False)[0], images)


def test_read_idx_other_types_and_dims(tmp_path):
    array = np.arange(24, dtype=">i4").reshape(2, 3, 4)
    path = write(tmp_path / "x.idx", idx_bytes(array, type_code=0x0C), gz=False)
    out = td.read_idx(path)
    assert out.shape == (2, 3, 4)
    np.testing.assert_array_equal(out, np.arange(24).reshape(2, 3, 4))


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00", b"\x08\x03\x00\x00" + bytes(16), b"\x00\x00\x07\x03" + bytes(16), b"PK\x03\x04abcd"],
    ids=["empty", "one-byte", "swapped-magic", "unknown-type", "zip"],
)
def test_mnist_bad_magic(tmp_path, data):
    make_mnist(tmp_path)
    (tmp_path / "train-images-idx3-ubyte.gz").unlink()
    (tmp_path / "train-images-idx3-ubyte").write_bytes(data)
    with pytest.raises(td.DatasetFormatError, match="magic number") as info:
        td.load_mnist(tmp_path)
    assert "train-images-idx3-ubyte" in str(info.value)


@pytest.mark.parametrize("delta", [-1, +1, -700])
def test_mnist_size_disagrees_with_header(tmp_path, delta):
    images, _ = make_mnist(tmp_path, gz=False)
    data = idx_bytes(images)
    data = data[:delta] if delta < 0 else data + b"\x00" * delta
    (tmp_path / "train-images-idx3-ubyte").write_bytes(data)
    with pytest.raises(td.DatasetFormatError, match=r"header declares dims \(5, 28, 28\)"):
        td.load_mnist(tmp_path)


def test_mnist_truncated_header_and_corrupt_gzip(tmp_path):
    make_mnist(tmp_path, gz=False)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00")
    with pytest.raises(td.DatasetFormatError, match="truncated IDX header"):
        td.load_mnist(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte").unlink()
    good = gzip.compress(idx_bytes(np.zeros(5, np.uint8)))
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(good[: len(good) // 2])
    with pytest.raises(td.DatasetFormatError, match="corrupt gzip"):
        td.load_mnist(tmp_path)


def test_mnist_counts_must_agree(tmp_path):
    make_mnist(tmp_path, gz=False)
    write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(np.zeros(4, np.uint8)), gz=False)
    with pytest.raises(td.DatasetFormatError, match="5 images but .* 4 labels"):
        td.load_mnist(tmp_path)


def test_mnist_swapped_files_and_bad_labels(tmp_path):
    images, labels = make_mnist(tmp_path, gz=False)
    write(tmp_path / "train-images-idx3-ubyte", idx_bytes(labels), gz=False)
    write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(images), gz=False)
    with pytest.raises(td.DatasetFormatError, match="labels file"):
        td.load_mnist(tmp_path)
    make_mnist(tmp_path, gz=False)
    write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(np.full(5, 11, np.uint8)), gz=False)
    with pytest.raises(td.DatasetFormatError, match="0..9"):
        td.load_mnist(tmp_path)


def test_mnist_missing_files_are_named(tmp_path):
    with pytest.raises(td.DatasetNotFoundError) as info:
        td.load_mnist(tmp_path / "mnist", "test")
    message = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        assert str(tmp_path / "mnist" / name) in message
    assert "download=True" in message and "datasets/README.md" in message
    # Only the missing file is listed.
    make_mnist(tmp_path, "train")
    (tmp_path / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(td.DatasetNotFoundError) as info:
        td.load_mnist(tmp_path)
    assert "train-labels-idx1-ubyte" in str(info.value)
    assert "train-images" not in str(info.value)
    assert info.value.missing == [tmp_path / "train-labels-idx1-ubyte.gz"]


def test_mnist_bad_kind(tmp_path):
    with pytest.raises(ValueError, match="'train' or 'test'"):
        td.load_mnist(tmp_path, "validation")


def test_default_root_follows_tinytorch_data(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYTORCH_DATA", str(tmp_path))
    assert td.data_root("mnist") == tmp_path / "mnist"
    _, labels = make_mnist(tmp_path / "mnist", "test", n=2)
    np.testing.assert_array_equal(td.load_mnist(kind="test")[1], labels)
    monkeypatch.delenv("TINYTORCH_DATA")
    assert td.data_root("cifar10") == REPO / "datasets" / "cifar10"


# ---------------------------------------------------------------------------------------------
# CIFAR-10: python pickle batches like the official ones
# ---------------------------------------------------------------------------------------------


def cifar_batch(n: int, seed: int, bytes_keys: bool = True) -> tuple[dict, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n).tolist()
    batch = {
        b"batch_label": b"training batch 1 of 5",
        b"labels": labels,  # a list of ints, as in the real files
        b"data": images.reshape(n, 3072),  # each row: 1024 red, 1024 green, 1024 blue (row-major)
        b"filenames": [f"img_{i}.png".encode() for i in range(n)],
    }
    if not bytes_keys:
        batch = {k.decode(): v for k, v in batch.items()}
    return batch, images, np.array(labels)


def make_cifar(batch_dir: Path, n: int = 4, bytes_keys: bool = True):
    batch_dir.mkdir(parents=True, exist_ok=True)
    xs, ys = [], []
    for i, name in enumerate((*td.CIFAR10_TRAIN_BATCHES, td.CIFAR10_TEST_BATCH)):
        batch, images, labels = cifar_batch(n + i, seed=i, bytes_keys=bytes_keys)
        (batch_dir / name).write_bytes(pickle.dumps(batch, protocol=2))
        xs.append(images)
        ys.append(labels)
    return np.concatenate(xs[:5]), np.concatenate(ys[:5]), xs[5], ys[5]


@pytest.mark.parametrize("bytes_keys", [True, False], ids=["bytes-keys", "str-keys"])
def test_cifar10_reads_pickle_batches(tmp_path, bytes_keys):
    x_train, y_train, x_test, y_test = make_cifar(tmp_path / td.CIFAR10_DIR, bytes_keys=bytes_keys)
    splits = td.load_cifar10(tmp_path)
    assert isinstance(splits, td.Splits)
    assert splits.x_train.shape == (4 + 5 + 6 + 7 + 8, 3, 32, 32) and splits.x_test.shape == (9, 3, 32, 32)
    assert splits.x_train.dtype == np.float32 and splits.y_train.dtype == np.int64
    np.testing.assert_allclose(splits.x_train, x_train / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(splits.y_train, y_train)
    np.testing.assert_array_equal(splits.y_test, y_test)
    raw = td.load_cifar10(tmp_path, normalize=False)
    assert raw.x_test.dtype == np.uint8
    np.testing.assert_array_equal(raw.x_test, x_test)
    # Channel layout: the first 1024 values of a row are the red plane.
    with open(tmp_path / td.CIFAR10_DIR / "test_batch", "rb") as f:
        row = pickle.load(f, encoding="bytes")[b"data" if bytes_keys else "data"][0]
    np.testing.assert_array_equal(raw.x_test[0, 0], row[:1024].reshape(32, 32))


def py2_batch_pickle(data: np.ndarray, labels: list[int]) -> bytes:
    """The opcodes Python 2's cPickle (protocol 2) wrote for the official batches: ``str`` values
    as BINSTRING (read back as bytes), the array via numpy.core.multiarray._reconstruct."""

    def s(b: bytes) -> bytes:
        return b"U" + bytes([len(b)]) + b if len(b) < 256 else b"T" + struct.pack("<I", len(b)) + b

    def i(n: int) -> bytes:
        return b"J" + struct.pack("<i", n)

    dtype = b"cnumpy\ndtype\n" + s(b"u1") + i(0) + i(1) + b"\x87R"
    dtype += b"(" + i(3) + s(b"|") + b"NNN" + i(-1) + i(-1) + i(0) + b"tb"
    array = b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n" + i(0) + b"\x85" + s(b"b") + b"\x87R"
    array += b"(" + i(1) + i(data.shape[0]) + i(data.shape[1]) + b"\x86" + dtype + b"\x89" + s(data.tobytes())
    array += b"tb"
    label_list = b"](" + b"".join(i(v) for v in labels) + b"e"
    return (b"\x80\x02}(" + s(b"batch_label") + s(b"testing batch 1 of 1") + s(b"data") + array
            + s(b"labels") + label_list + b"u.")


def test_cifar10_reads_python2_pickles(tmp_path):
    make_cifar(tmp_path / td.CIFAR10_DIR)
    data = np.random.default_rng(7).integers(0, 256, size=(3, 3072), dtype=np.uint8)
    (tmp_path / td.CIFAR10_DIR / "test_batch").write_bytes(py2_batch_pickle(data, [3, 1, 4]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NumPy 2 must not warn about the numpy.core path
        splits = td.load_cifar10(tmp_path, normalize=False)
    np.testing.assert_array_equal(splits.x_test.reshape(3, 3072), data)
    assert splits.y_test.tolist() == [3, 1, 4]


def test_cifar10_root_may_be_the_batch_folder(tmp_path):
    *_, y_test = make_cifar(tmp_path / td.CIFAR10_DIR)
    np.testing.assert_array_equal(td.load_cifar10(tmp_path / td.CIFAR10_DIR).y_test, y_test)


def test_cifar10_missing_files_are_named(tmp_path):
    with pytest.raises(td.DatasetNotFoundError) as info:
        td.load_cifar10(tmp_path)
    message = str(info.value)
    for name in (*td.CIFAR10_TRAIN_BATCHES, td.CIFAR10_TEST_BATCH):
        assert str(tmp_path / td.CIFAR10_DIR / name) in message
    assert td.CIFAR10_ARCHIVE in message and "download=True" in message
    make_cifar(tmp_path / td.CIFAR10_DIR)
    (tmp_path / td.CIFAR10_DIR / "data_batch_3").unlink()
    with pytest.raises(td.DatasetNotFoundError, match="data_batch_3") as info:
        td.load_cifar10(tmp_path)
    assert info.value.missing == [tmp_path / td.CIFAR10_DIR / "data_batch_3"]


class Boom:
    def __reduce__(self):
        return (print, ("this must never run",))


@pytest.mark.parametrize(
    "payload, match",
    [
        (pickle.dumps({b"data": Boom(), b"labels": []}, protocol=2), "refusing to unpickle"),
        (b"not a pickle", "not a CIFAR-10 python batch"),
        (pickle.dumps([1, 2, 3], protocol=2), "expected a pickled dict"),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8)}, protocol=2), "b'labels'"),
        (pickle.dumps({b"data": np.zeros((2, 1000), np.uint8), b"labels": [0, 1]}, protocol=2), "3072"),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.float64), b"labels": [0, 1]}), "uint8"),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, protocol=2), "1 labels"),
        (pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [10]}, protocol=2), "0..9"),
    ],
    ids=["code-execution", "garbage", "list", "no-labels", "width", "dtype", "count", "label-range"],
)
def test_cifar10_bad_batches(tmp_path, capsys, payload, match):
    make_cifar(tmp_path / td.CIFAR10_DIR)
    (tmp_path / td.CIFAR10_DIR / "data_batch_2").write_bytes(payload)
    with pytest.raises(td.DatasetFormatError, match=match) as info:
        td.load_cifar10(tmp_path)
    assert "data_batch_2" in str(info.value)
    assert "must never run" not in capsys.readouterr().out


def cifar_archive(path: Path, n: int = 3) -> tuple[Path, np.ndarray]:
    """A tiny cifar-10-python.tar.gz with the official layout, plus a file that must be ignored."""
    staging = path.parent / "staging"
    *_, y_test = make_cifar(staging / td.CIFAR10_DIR, n=n)
    with tarfile.open(path, "w:gz") as tar:
        tar.add(staging / td.CIFAR10_DIR, arcname=td.CIFAR10_DIR)
        evil = tarfile.TarInfo("../escaped.txt")
        evil.size = 4
        tar.addfile(evil, io.BytesIO(b"evil"))
    return path, y_test


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_cifar10_extracts_a_provided_archive_after_checking_it(tmp_path, monkeypatch):
    root = tmp_path / "cifar10"
    root.mkdir()
    archive, y_test = cifar_archive(root / td.CIFAR10_ARCHIVE)
    with pytest.raises(td.ChecksumError, match="not the official"):
        td.load_cifar10(root)  # the real checksum: this tiny archive is not the official one
    assert not (root / td.CIFAR10_DIR).exists()
    monkeypatch.setattr(td, "CIFAR10_SHA256", sha256(archive))
    np.testing.assert_array_equal(td.load_cifar10(root).y_test, y_test)
    assert (root / td.CIFAR10_DIR / "data_batch_5").is_file()
    assert not (tmp_path / "escaped.txt").exists() and not (root.parent / "escaped.txt").exists()


# ---------------------------------------------------------------------------------------------
# Opt-in download (file:// URLs or a replaced _fetch; never the network)
# ---------------------------------------------------------------------------------------------


def mnist_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, np.ndarray]:
    """Gzipped MNIST test files in a folder served as a file:// URL, with matching checksums."""
    served = tmp_path / "served"
    _, labels = make_mnist(served, "test", n=4, gz=True)
    monkeypatch.setattr(td, "MNIST_URLS", (served.as_uri() + "/",))
    sums = dict(td.MNIST_SHA256)
    for name in td.MNIST_FILES["test"]:
        sums[name + ".gz"] = sha256(served / (name + ".gz"))
    monkeypatch.setattr(td, "MNIST_SHA256", sums)
    return served, labels


def test_never_downloads_by_default(tmp_path, monkeypatch):
    def fail(url, dest, timeout=30.0):
        pytest.fail(f"downloaded {url} without download=True")

    monkeypatch.setattr(td, "_fetch", fail)
    with pytest.raises(td.DatasetNotFoundError):
        td.load_mnist(tmp_path / "m", "test")
    with pytest.raises(td.DatasetNotFoundError):
        td.load_cifar10(tmp_path / "c")
    assert not (tmp_path / "m").exists() and not (tmp_path / "c").exists()


def test_mnist_download_from_file_url(tmp_path, monkeypatch):
    _, labels = mnist_server(tmp_path, monkeypatch)
    root = tmp_path / "mnist"
    x, y = td.load_mnist(root, "test", download=True)
    assert x.shape == (4, 28, 28)
    np.testing.assert_array_equal(y, labels)
    downloaded = sorted(p.name for p in root.iterdir())
    assert downloaded == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    # Present files are not fetched again.
    monkeypatch.setattr(td, "MNIST_URLS", ("file:///nonexistent/",))
    np.testing.assert_array_equal(td.load_mnist(root, "test", download=True)[1], labels)


def test_mnist_download_checksum_mismatch(tmp_path, monkeypatch):
    served, _ = mnist_server(tmp_path, monkeypatch)
    (served / "t10k-images-idx3-ubyte.gz").write_bytes(b"tampered")
    root = tmp_path / "mnist"
    with pytest.raises(td.ChecksumError, match="t10k-images-idx3-ubyte.gz") as info:
        td.load_mnist(root, "test", download=True)
    assert "expected" in str(info.value)
    assert not (root / "t10k-images-idx3-ubyte.gz").exists()
    assert not list(root.glob("*.part"))


def test_download_tries_the_next_mirror(tmp_path, monkeypatch):
    served, labels = mnist_server(tmp_path, monkeypatch)
    monkeypatch.setattr(td, "MNIST_URLS", ("file:///nonexistent/", served.as_uri() + "/"))
    np.testing.assert_array_equal(td.load_mnist(tmp_path / "m", "test", download=True)[1], labels)


def test_download_offline_fails_clearly(tmp_path, monkeypatch):
    def offline(url, dest, timeout=30.0):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(td, "_fetch", offline)
    with pytest.raises(td.DownloadError, match="offline") as info:
        td.load_mnist(tmp_path / "mnist", "train", download=True)
    message = str(info.value)
    assert td.MNIST_URLS[0] + "train-images-idx3-ubyte.gz" in message
    assert str(tmp_path / "mnist" / "train-images-idx3-ubyte.gz") in message
    with pytest.raises(td.DownloadError, match=td.CIFAR10_ARCHIVE):
        td.load_cifar10(tmp_path / "cifar10", download=True)


def test_real_fetch_goes_through_urllib_and_is_blocked_here(tmp_path):
    # The autouse fixture blocks sockets, so the real URL fails like an offline machine would.
    with pytest.raises(td.DownloadError, match="could not download"):
        td.load_mnist(tmp_path, "test", download=True)


def test_cifar10_download_from_file_url(tmp_path, monkeypatch):
    archive, y_test = cifar_archive(tmp_path / "served" / td.CIFAR10_ARCHIVE)
    monkeypatch.setattr(td, "CIFAR10_URLS", (archive.as_uri(),))
    monkeypatch.setattr(td, "CIFAR10_SHA256", sha256(archive))
    root = tmp_path / "cifar10"
    splits = td.load_cifar10(root, download=True)
    np.testing.assert_array_equal(splits.y_test, y_test)
    assert splits.x_train.shape == (3 + 4 + 5 + 6 + 7, 3, 32, 32)
    assert sorted(p.name for p in root.iterdir()) == [td.CIFAR10_DIR]  # the archive is not kept


def test_cifar10_download_checksum_mismatch(tmp_path, monkeypatch):
    archive, _ = cifar_archive(tmp_path / "served" / td.CIFAR10_ARCHIVE)
    monkeypatch.setattr(td, "CIFAR10_URLS", (archive.as_uri(),))
    with pytest.raises(td.ChecksumError, match=td.CIFAR10_SHA256):
        td.load_cifar10(tmp_path / "cifar10", download=True)
    assert not (tmp_path / "cifar10" / td.CIFAR10_DIR).exists()
