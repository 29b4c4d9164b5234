# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Module 08: DataLoader
#
# Module 07 trained a network on one array that fitted in memory, all of it at every step. Real
# training does something else: it cuts the data into **mini-batches**, reshuffles them every
# **epoch**, and often changes each image a little (**augmentation**) so the network cannot
# memorise pixels. The object that does this is the data loader. It is plumbing, but plumbing
# that decides how fast you train and how well: a slow loader starves the model, and a loader
# that never shuffles can stop a network from learning at all.
#
# ## Learning objectives
# - Describe a dataset by two methods, `__len__` and `__getitem__`, the way PyTorch does.
# - Batch a dataset with **one fancy-indexing gather** per batch instead of a Python loop over
#   samples, and measure the difference.
# - Shuffle **reproducibly**: a seed fixes the whole sequence of epochs, and every epoch gets a
#   new permutation.
# - Compute epochs, iterations and memory per batch, and choose a batch size with numbers.
# - Write **batch-wise, vectorized** augmentations: normalize, random crop with padding,
#   horizontal flip.
#
# ## How to work
# In your edition, each piece you write is a stub that raises `NotImplementedError`: replace
# the `raise` with your code, then run the test cell right after it. Stuck? `tito hint 08`
# lists the stubs; `tito hint 08 NAME` (e.g. `tito hint 08 RandomCrop.__call__`) shows the next
# hint for one stub, from the idea to the math to the shape of the code, one level at a time.
# When every test passes, run `tito module complete 08`.

# %% nbgrader={"grade": false, "grade_id": "dataloader-setup", "locked": false, "schema_version": 3, "solution": false, "task": false}
#| default_exp dataloader
#| export
import math
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from tinytorch.tensor import Tensor

# %% [markdown]
# ## 1. Why batches, and how big
#
# Gradient descent wants the gradient of the loss over the *whole* training set. Computing it
# exactly costs a full pass per step; computing it from a single sample is cheap but so noisy
# that the steps wander. A mini-batch of `B` samples sits in between: its gradient is an
# unbiased estimate of the full one, and its noise (standard deviation) shrinks like `1/√B`.
#
# **Memory.** The data set itself may not fit in memory, but a batch always must:
#
# | data set | samples × shape | whole set in float32 | one batch of 64 |
# |---|---|---|---|
# | TinyDigits (ships with TinyTorch) | 1,437 × 8×8 | 368 KB | 16 KB |
# | MNIST | 60,000 × 28×28 | 188 MB | 200 KB |
# | CIFAR-10 | 50,000 × 3×32×32 | 614 MB | 786 KB |
# | ImageNet (224×224) | 1.28 M × 3×224×224 | 771 GB | 38.5 MB |
#
# The input batch is the small part. Every layer keeps its output for the backward pass, so
# activation memory grows **linearly with `B`**: a convolution with 32 output channels on 32×32
# images stores 32·32·32·4 B = 131 KB per image, so 33.5 MB per layer at `B = 256`, plus the
# im2col buffer of module 09 (27·1024·4 B = 111 KB per image for a 3×3 kernel on 3 channels).
# When you run out of memory, halve the batch.
#
# **Speed.** Each step pays a fixed cost (one Python call per op, forward and backward, a few
# microseconds each) plus a cost proportional to `B`. With `B = 1`, an epoch of TinyDigits is
# 1,437 steps of almost pure overhead; with `B = 64` it is 23 steps in which NumPy's BLAS does
# real work. Past a few hundred samples, larger batches stop paying: the time per epoch no
# longer drops, and each epoch makes fewer (if better) steps. Batches of 32–256 are the usual
# choice.
#
# **Epochs and iterations.** One *epoch* is one pass over the data; one *iteration* (step) is
# one batch. Every batch has `B` samples except possibly the last, which holds whatever is
# left. With `drop_last=True` that short last batch is skipped, so every batch has exactly
# `B` samples and the leftover samples sit this epoch out.
#
# Worked example: TinyDigits' training split has `N = 1437`. At `B = 32`, 44 full batches use
# 1,408 samples and 29 are left: 45 batches per epoch (44 full ones and one of 29), or 44
# with `drop_last=True`, dropping 29 samples (2 %) per epoch, a different 29 each epoch when
# shuffling. Twenty epochs are 900 optimizer steps. Work out the general count for `N` and
# `B` yourself (you will write it as `DataLoader.__len__`), and check it on the edges:
#
# | `N` | `B` | `drop_last=False` | `drop_last=True` |
# |---|---|---|---|
# | 1437 | 32 | 45 | 44 |
# | 10 | 4 | 3 (4, 4, 2) | 2 |
# | 10 | 5 | 2 | 2 |
# | 10 | 32 | 1 (one short batch) | 0 |
# | 0 | 4 | 0 | 0 |
#
# `drop_last=True` matters when a layer computes statistics over the batch: BatchNorm (module
# 09) normalizes with the batch's mean and variance, which a last batch of one or two samples
# estimates badly.

# %% [markdown]
# ## 2. Datasets: two methods
#
# A dataset answers two questions: how many samples (`__len__`) and what is sample `i`
# (`__getitem__`). Anything that answers both can be loaded: files on disk, rows of a CSV,
# images generated on the fly.
#
# The common case is data already in memory as arrays: `TensorDataset(x, y)` pairs the `i`-th
# row of every array. Its one extra method, `get_batch(indices)`, is where speed comes from:
# NumPy's **fancy indexing** `x[indices]` gathers a whole batch in one C call. The generic
# `Dataset.get_batch` has no choice but to call `__getitem__` once per sample and stack the
# results: for a batch of 32 TinyDigits images, about 110 µs of CPU time against about 4 µs for
# the gather at a load average of 6, and 62 µs against 2 µs in a later run at a load average of
# 14: some 30 times more either way (`time.process_time` over 3,000 calls each, one BLAS thread,
# on our shared 2-core machine; CPU time, unlike wall time, hardly depends on the load, and the
# ratio of two CPU times even less). Time both on yours. The arithmetic of training is
# vectorized; the loader that feeds it should be too.
#
# **What `TensorDataset(*arrays)` must do** (you write its `__init__` and `get_batch`; the
# one-line `__len__` and `__getitem__` are given):
# - Accept arrays, Tensors (use the array inside) and lists, through the given `_as_array`.
# - Store floating-point arrays as **float32**, converting once here so that batches need no
#   conversion later, and **without copying** an array that is already float32 (a dataset can
#   be most of your memory). Integer arrays (labels, `uint8` images) keep their dtype.
# - Refuse, with a `ValueError`, an array without a sample axis (a 0-d array; say that it needs
#   a *first* dimension) and arrays of different lengths, at once: a silent mismatch would
#   pair images with the wrong labels. The message must say the arrays need the **same first
#   dimension** and name the shape of every array, e.g. `got shapes (5, 3), (4,)`.
# - Keep the result in `self.arrays`, a tuple.
#
# `get_batch(indices)` returns one array per field with the rows at `indices`, in that order
# (an index may repeat), with no Python loop over samples.

# %% nbgrader={"grade": false, "grade_id": "dataset", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def _as_array(value) -> np.ndarray:
    """The NumPy array behind a Tensor, array, list or number (no copy when possible)."""
    return value.data if isinstance(value, Tensor) else np.asarray(value)


def collate(samples: Sequence) -> tuple[np.ndarray, ...]:
    """Stack a list of samples into one array per field (given).

    Each sample is a tuple such as `(image, label)`, or a single item; the result is a tuple of
    arrays whose first dimension is `len(samples)`.
    """
    if not samples:
        raise ValueError("collate needs at least one sample")
    if not isinstance(samples[0], tuple | list):
        samples = [(s,) for s in samples]
    return tuple(np.stack([_as_array(s[k]) for s in samples]) for k in range(len(samples[0])))


class Dataset:
    """A collection of samples: subclasses define `__len__` and `__getitem__`."""

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__")

    def __getitem__(self, index: int):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def get_batch(self, indices: np.ndarray) -> tuple[np.ndarray, ...]:
        """The samples at `indices`, one array per field. Generic (slow) path: one call per sample."""
        return collate([self[int(i)] for i in indices])


class TensorDataset(Dataset):
    """Samples are the rows of one or more arrays (or Tensors) with the same first dimension.

    `TensorDataset(images, labels)[i]` is `(images[i], labels[i])`. The arrays are kept in
    `self.arrays` (a tuple, NumPy arrays); floating-point ones are stored as float32 once, here,
    so that batches need no conversion later.
    """

    def __init__(self, *arrays):
        if not arrays:
            raise ValueError("TensorDataset needs at least one array")
        # Set `self.arrays` (section 2).
        ### BEGIN SOLUTION
        stored = []
        for a in arrays:
            a = _as_array(a)
            if a.ndim == 0:
                raise ValueError("TensorDataset arrays need a first (sample) dimension, got a scalar")
            if np.issubdtype(a.dtype, np.floating):
                a = a.astype(np.float32, copy=False)
            stored.append(a)
        lengths = {a.shape[0] for a in stored}
        if len(lengths) != 1:
            shapes = ", ".join(str(a.shape) for a in stored)
            raise ValueError(f"TensorDataset: all arrays need the same first dimension (number of "
                             f"samples), got shapes {shapes}")
        self.arrays = tuple(stored)
        ### END SOLUTION

    def __len__(self) -> int:
        """Number of samples: the shared first dimension (given)."""
        return self.arrays[0].shape[0]

    def __getitem__(self, index: int) -> tuple[np.ndarray, ...]:
        """Sample `index`: a tuple with row `index` of every array (given)."""
        return tuple(a[index] for a in self.arrays)

    def get_batch(self, indices: np.ndarray) -> tuple[np.ndarray, ...]:
        """The rows at `indices` of every array, one gather per array: no loop over samples."""
        ### BEGIN SOLUTION
        return tuple(a[indices] for a in self.arrays)
        ### END SOLUTION


# %% [markdown]
# ### Unit test: datasets

# %% nbgrader={"grade": true, "grade_id": "test-dataset", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_dataset():
    from tinytorch.testing import raises
    x = np.arange(20, dtype=np.float64).reshape(10, 2)
    y = np.arange(10) % 3
    ds = TensorDataset(x, Tensor(y))
    assert len(ds) == 10, f"len should be 10, got {len(ds)}"
    xi, yi = ds[7]
    assert np.array_equal(xi, [14.0, 15.0]) and yi == 1, f"ds[7] gave {(xi, yi)}, expected ([14., 15.], 1)"
    assert isinstance(ds.arrays, tuple), f"self.arrays is a tuple, got {type(ds.arrays).__name__}"
    assert ds.arrays[0].dtype == np.float32, f"floating arrays are stored as float32, got {ds.arrays[0].dtype}"
    batch = ds.get_batch(np.array([9, 0, 4, 4]))
    assert isinstance(batch, tuple) and len(batch) == 2, \
        f"get_batch returns a tuple with one array per field (2 here), got {type(batch).__name__} of {len(batch)}"
    xb, yb = batch
    assert np.array_equal(xb, x[[9, 0, 4, 4]]), f"get_batch([9, 0, 4, 4]) gathered rows\n{xb}"
    assert np.array_equal(yb, [0, 0, 1, 1]), f"get_batch([9, 0, 4, 4]) gathered labels {yb}, expected [0, 0, 1, 1]"

    class Reads(np.ndarray):  # an array that records every index it is read with
        log = []

        def __getitem__(self, index):
            Reads.log.append(index)
            return super().__getitem__(index)
    ds.arrays = tuple(a.view(Reads) for a in ds.arrays)
    ds.get_batch(np.arange(8))
    assert len(Reads.log) <= 2, \
        f"get_batch read the 2 arrays {len(Reads.log)} times for a batch of 8 (first indices " \
        f"{[str(i) for i in Reads.log[:3]]}): a loop over samples; gather each array's rows with one index"

    images = np.zeros((4, 2, 3), dtype=np.float32)
    kept = TensorDataset(images, np.arange(4, dtype=np.uint8))
    assert np.shares_memory(kept.arrays[0], images), "a float32 array is stored as it is, without a copy"
    assert kept.arrays[1].dtype == np.uint8, f"integer arrays keep their dtype, got {kept.arrays[1].dtype}"
    raises(ValueError, lambda: TensorDataset(np.zeros((5, 3)), np.zeros(4)), "same first dimension", "(5, 3)", "(4,)")
    raises(ValueError, lambda: TensorDataset(np.float32(3.0)), "first")
    print("dataset: OK")


if __name__ == "__main__":
    test_unit_dataset()

# %% [markdown]
# ## 3. The DataLoader
#
# `DataLoader(dataset, batch_size=32, shuffle=False, drop_last=False, seed=None)` is an iterable:
# each `for` loop over it is one epoch, and yields one tuple of Tensors per batch, in the
# dataset's field order: `for images, labels in loader:`.
#
# **Why shuffle.** Files are often sorted: by class, by date, by source. TinyDigits sorted by
# label would give 4 batches of pure zeros, then 4 of pure ones…; each step would pull the
# network toward one class and the next steps would undo it. Even an unsorted file in a fixed
# order repeats the same batches every epoch, so the gradient noise is correlated across
# epochs. A fresh random permutation every epoch makes each batch a fair sample of the data.
#
# **Reproducibly.** `seed` seeds one `np.random.default_rng` when the loader is built; each
# epoch draws the next permutation from it. Two loaders with the same seed therefore yield the
# same sequence of epochs, and the epochs differ from each other. `seed=None` draws fresh
# entropy.
#
# **Labels.** Every field becomes a `Tensor`, which stores float32. Class labels arrive as
# Tensors holding whole numbers (float32 represents every integer up to 2²⁴ = 16,777,216
# exactly): `CrossEntropyLoss` takes them as they are, and `y.data.astype(np.int64)` gives
# integers when you need them, e.g. `(logits.data.argmax(axis=1) == y.data).mean()`.
#
# **Transforms.** `transform` (optional) is applied to the *first* field (the inputs) of each
# batch, as a NumPy array, before it becomes a Tensor; sections 4–6 write some.
#
# **Your part.** The constructor and `_fetch` are given: `_fetch(indices)` returns one batch as
# a tuple of arrays, from the dataset's vectorized `get_batch` (one call per batch, never one
# `__getitem__` per sample) or, for datasets that only define `__len__` and `__getitem__`,
# through `collate`. You write:
# - `__len__`: the number of batches per epoch, which you derived in section 1 (check it on
#   that table, including `N = 0` and `B > N`).
# - `__iter__`: a generator (`yield`) for one epoch. Design it from the specification above:
#   where the epoch's order of indices comes from (and when it is drawn, so that every epoch
#   is new yet the same seed repeats the same epochs), which indices each batch takes, what
#   happens to the last short batch, and in which order the transform and the conversion to
#   Tensors happen. The loader must be reusable: every `for` loop over it is a fresh epoch.
#
# Worked example: `N = 10`, `B = 4`, `shuffle=True`, and suppose this epoch's permutation is
# `[3, 7, 0, 9, 5, 1, 8, 2, 6, 4]`. The batches are the samples `[3, 7, 0, 9]`, `[5, 1, 8, 2]`
# and `[6, 4]`; with `drop_last=True`, only the first two. The next epoch draws a new
# permutation. Without shuffling, the order is simply `0, 1, …, 9`.

# %% nbgrader={"grade": false, "grade_id": "dataloader", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
class DataLoader:
    """Iterate over a dataset in (optionally shuffled) batches of Tensors."""

    def __init__(self, dataset, batch_size: int = 32, shuffle: bool = False, drop_last: bool = False,
                 seed: int | None = None, transform: Callable | None = None):
        if not isinstance(batch_size, int | np.integer) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.transform = transform
        self.rng = np.random.default_rng(seed)  # one generator: each epoch draws a new permutation

    def __len__(self) -> int:
        """Number of batches per epoch (section 1's count, with and without `drop_last`)."""
        ### BEGIN SOLUTION
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)
        ### END SOLUTION

    def _fetch(self, indices: np.ndarray) -> tuple[np.ndarray, ...]:
        """One batch as arrays: the dataset's vectorized `get_batch`, else `collate` (given)."""
        get_batch = getattr(self.dataset, "get_batch", None)
        if get_batch is not None:
            return tuple(get_batch(indices))
        return collate([self.dataset[int(i)] for i in indices])

    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
        """One epoch: yield `len(self)` batches, each a tuple of Tensors (one per field).

        Shuffled with a new permutation from `self.rng` per epoch; `self.transform` applied to
        the first field (a NumPy array) before it becomes a Tensor.
        """
        ### BEGIN SOLUTION
        n = len(self.dataset)
        order = self.rng.permutation(n) if self.shuffle else np.arange(n)
        for b in range(len(self)):
            indices = order[b * self.batch_size:(b + 1) * self.batch_size]
            fields = list(self._fetch(indices))
            if self.transform is not None:
                fields[0] = self.transform(fields[0])
            yield tuple(Tensor(f) for f in fields)
        ### END SOLUTION


# %% [markdown]
# ### Unit test: batching, `len` and `drop_last`
# 10 samples in batches of 4: 3 batches (4, 4, 2), or 2 with `drop_last`. Without shuffling the
# samples come in order.

# %% nbgrader={"grade": true, "grade_id": "test-batching", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_batching():
    x = np.arange(30, dtype=np.float32).reshape(10, 3)
    y = np.arange(10)
    loader = DataLoader(TensorDataset(x, y), batch_size=4)
    assert len(loader) == 3, f"10 samples / 4 per batch = 3 batches, got {len(loader)}"
    batches = list(loader)
    sizes = [len(b[1]) for b in batches]
    assert sizes == [4, 4, 2], f"batch sizes should be [4, 4, 2], got {sizes}"
    xb, yb = batches[1]
    assert isinstance(xb, Tensor) and isinstance(yb, Tensor), \
        f"batches are tuples of Tensors, got ({type(xb).__name__}, {type(yb).__name__})"
    assert xb.shape == (4, 3) and np.array_equal(xb.data, x[4:8]), f"no shuffle: batch 1 is x[4:8], got\n{xb.data}"
    assert np.array_equal(yb.data, [4, 5, 6, 7]), f"no shuffle: batch 1 holds labels [4, 5, 6, 7], got {yb.data}"
    assert len(list(loader)) == 3, "the loader is reusable: a second for loop is a second epoch"
    dropped = DataLoader(TensorDataset(x, y), batch_size=4, drop_last=True)
    assert len(dropped) == 2, f"drop_last: 2 full batches, got {len(dropped)}"
    kept = [b[1].data.tolist() for b in dropped]
    assert kept == [[0, 1, 2, 3], [4, 5, 6, 7]], f"drop_last yields only the full batches, got {kept}"
    for n, batch, drop_last, want in [(10, 5, True, 2), (10, 32, False, 1), (10, 32, True, 0), (0, 4, False, 0)]:
        got = len(DataLoader(TensorDataset(np.zeros((n, 3))), batch_size=batch, drop_last=drop_last))
        assert got == want, f"N={n}, B={batch}, drop_last={drop_last}: {want} batches, got {got}"
    print("batching: OK")


if __name__ == "__main__":
    test_unit_batching()

# %% [markdown]
# ### Unit test: shuffling
# Every sample once per epoch, a different order each epoch, the same sequence for the same
# seed; pairs `(x[i], y[i])` must stay together.

# %% nbgrader={"grade": true, "grade_id": "test-shuffle", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_shuffle():
    x = np.arange(100, dtype=np.float32)[:, None] * np.ones((1, 2), np.float32)
    y = np.arange(100)

    def epochs(seed, count=3):
        loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True, seed=seed)
        result = []
        for _ in range(count):
            parts = list(loader)
            for xb, yb in parts:
                assert np.array_equal(xb.data[:, 0], yb.data), \
                    f"x and y rows must stay paired: x[:, 0] = {xb.data[:, 0]}, y = {yb.data}"
            result.append(np.concatenate([yb.data for _, yb in parts]))
        return result
    a, b = epochs(7), epochs(7)
    for ep in a:
        assert np.array_equal(np.sort(ep), y), f"each epoch visits every sample exactly once, got {len(ep)} " \
            f"samples, {len(np.unique(ep))} distinct"
    assert not np.array_equal(a[0], y), "shuffle=True must change the order"
    assert not np.array_equal(a[0], a[1]), f"each epoch needs a new permutation: two epochs began {a[0][:8]}"
    assert all(np.array_equal(p, q) for p, q in zip(a, b)), "two loaders with the same seed give the same epochs"
    assert not np.array_equal(epochs(8, 1)[0], a[0]), "a different seed gives a different order"
    print("shuffle: OK")


if __name__ == "__main__":
    test_unit_shuffle()

# %% [markdown]
# ### Unit test: the vectorized path and generic datasets
# A `TensorDataset` batch must come from one `get_batch` call, not from `__getitem__` per
# sample; a dataset without `get_batch` must still work.

# %% nbgrader={"grade": true, "grade_id": "test-generic", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_generic():
    class Squares:  # duck-typed: no Dataset base, no get_batch
        def __len__(self):
            return 7

        def __getitem__(self, i):
            return np.array([i, i * i], dtype=np.float32), i % 2
    batches = list(DataLoader(Squares(), batch_size=3))
    shapes = [b[0].shape for b in batches]
    assert shapes == [(3, 2), (3, 2), (1, 2)], f"generic datasets are stacked: shapes {shapes}"
    assert np.array_equal(batches[1][0].data, [[3, 9], [4, 16], [5, 25]]), f"batch 1 inputs:\n{batches[1][0].data}"
    assert np.array_equal(batches[1][1].data, [1, 0, 1]), f"batch 1 labels {batches[1][1].data}, expected [1, 0, 1]"

    class Counting(TensorDataset):
        calls = {"getitem": 0, "get_batch": 0}

        def __getitem__(self, i):
            Counting.calls["getitem"] += 1
            return super().__getitem__(i)

        def get_batch(self, indices):
            Counting.calls["get_batch"] += 1
            return super().get_batch(indices)
    loader = DataLoader(Counting(np.zeros((64, 4)), np.zeros(64)), batch_size=16, shuffle=True, seed=0)
    count = sum(1 for _ in loader)
    assert count == 4, f"64 samples in batches of 16: 4 batches, got {count}"
    assert Counting.calls == {"getitem": 0, "get_batch": 4}, \
        f"one get_batch per batch and no per-sample __getitem__, got {Counting.calls}"
    print("generic datasets: OK")


if __name__ == "__main__":
    test_unit_generic()

# %% [markdown]
# ## 4. Augmentation, a batch at a time: `Normalize`
#
# A network that sees the same 1,437 images for 50 epochs starts to memorise them. Small
# random changes that keep the label (a shift of a pixel or two, a mirror image for photos)
# give it effectively new samples for free. PyTorch's `torchvision` applies these per sample
# in Python; we apply them to the **whole batch** with array operations, one random draw per
# sample but no loop.
#
# **The contract of every transform** (the tests check each point): a callable object,
# `transform(batch) -> batch`, that accepts an array or a Tensor (through the given
# `_as_array`) and returns a **new NumPy array**. It never modifies its input: the batch may be
# a view of the dataset, and a transform that writes into it would corrupt the data for every
# later epoch. The last two axes are height and width; the first is the batch; any axes in
# between (channels) are carried along. Each random transform owns a
# `np.random.default_rng(seed)`, so augmentation is reproducible, and draws new random numbers
# at every call.
#
# **`Normalize(mean, std)`** returns `(x - mean) / std` in float32. Centred inputs of unit scale
# keep the first layer's pre-activations in a sensible range. A scalar `mean` and `std` apply
# to every value. Sequences of length `C` are **per channel**, along axis 1, whatever the
# number of axes: `(N, C)` features, `(N, C, L)` signals, `(N, C, H, W)` images.
#
# That last point is the design question. NumPy broadcasting aligns shapes **from the right**:
# for a batch `(2, 3, 4, 4)` and a mean of shape `(3,)`, the mean meets the last axis (width 4)
# and NumPy refuses; for a batch `(2, 4, 4, 4)` with four channels it would *silently*
# normalize columns instead of channels. What shape must the `(C,)` mean take so that it lines
# up with axis 1 of a batch with `ndim` axes? Check your answer on all three layouts above.

# %% nbgrader={"grade": false, "grade_id": "normalize", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
class Normalize:
    """`(x - mean) / std` as a new float32 array; per channel (axis 1) when mean and std are sequences."""

    def __init__(self, mean, std):
        self.mean = np.asarray(mean, dtype=np.float32)
        self.std = np.asarray(std, dtype=np.float32)
        if np.any(self.std == 0):
            raise ValueError("Normalize: std must be non-zero")

    def __call__(self, x) -> np.ndarray:
        x = _as_array(x)
        ### BEGIN SOLUTION
        mean, std = self.mean, self.std
        if mean.ndim == 1 and x.ndim > 2:  # per channel: shape (C, 1, 1) broadcasts over (N, C, H, W)
            mean = mean.reshape((-1,) + (1,) * (x.ndim - 2))
        if std.ndim == 1 and x.ndim > 2:
            std = std.reshape((-1,) + (1,) * (x.ndim - 2))
        return ((x - mean) / std).astype(np.float32, copy=False)
        ### END SOLUTION


# %% [markdown]
# ### Unit test: `Normalize`
# Per-channel statistics on images whose channel count differs from their width (a wrong
# alignment fails), on signals and on flat features; the input must be unchanged.

# %% nbgrader={"grade": true, "grade_id": "test-normalize", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
def test_unit_normalize():
    from tinytorch.testing import close
    square = np.arange(2 * 4 * 4 * 4, dtype=np.float32).reshape(2, 4, 4, 4)
    square_kept, means = square.copy(), np.array([0.0, 10.0, 20.0, 30.0])
    square_out = Normalize(means, np.ones(4))(square)
    assert np.array_equal(square, square_kept), "Normalize changed its input array: compute into a new array instead"
    close(square_out, square_kept - means[:, None, None],
          what="four channels of 4x4 images: the means go along the channels (axis 1), not the columns")
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    kept = x.copy()
    out = Normalize([1.0, 2.0, 3.0], [2.0, 4.0, 8.0])(x)
    assert np.array_equal(x, kept), "Normalize changed its input array: compute into a new array instead"
    assert isinstance(out, np.ndarray) and out.dtype == np.float32, \
        f"Normalize returns a float32 NumPy array, got {type(out).__name__} of {getattr(out, 'dtype', None)}"
    want = (x - np.array([1.0, 2.0, 3.0])[:, None, None]) / np.array([2.0, 4.0, 8.0])[:, None, None]
    close(out, want, what="Normalize([1, 2, 3], [2, 4, 8]) of a (2, 3, 4, 5) batch: statistics along axis 1")
    close(Normalize(0.5, 0.25)(x), (x - 0.5) / 0.25, what="scalar mean 0.5 and std 0.25")
    signals = np.ones((4, 2, 5), np.float32)
    close(Normalize([1.0, 3.0], [1.0, 2.0])(signals), np.stack([np.zeros((4, 5)), -np.ones((4, 5))], axis=1),
          what="(N, C, L) signals: per channel along axis 1")
    features = np.arange(6, dtype=np.float32).reshape(2, 3)
    close(Normalize([1.0, 2.0, 3.0], [1.0, 2.0, 4.0])(features), (features - [1, 2, 3]) / [1, 2, 4],
          what="(N, C) features: per column")
    print("Normalize: OK")


if __name__ == "__main__":
    test_unit_normalize()

# %% [markdown]
# ## 5. Random horizontal flips
#
# **`RandomHorizontalFlip(p=0.5, seed=None)`** mirrors each image left-right, independently,
# with probability `p`: one random draw per image from `self.rng`, at every call. Mirroring
# reverses the order of the last axis (the width), which NumPy can express as a view with a
# negative stride, without copying anything. Right for photos,
# wrong for digits (a mirrored 2 is not a 2), so the loader does not use it unless you ask: you
# choose transforms that keep the label.
#
# Worked example: a batch of 3 images, `p = 0.5`, and this call's draws are `0.7, 0.2, 0.4`
# (uniform in [0, 1)): images 1 and 2 come out mirrored, image 0 unchanged. The design
# question is how to mirror a random *subset* of the batch with no loop over images, into a new
# array, leaving the input as it was.

# %% nbgrader={"grade": false, "grade_id": "flip", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
class RandomHorizontalFlip:
    """Mirror each image left-right with probability `p` (one random draw per image), into a new array."""

    def __init__(self, p: float = 0.5, seed: int | None = None):
        self.p = p
        self.rng = np.random.default_rng(seed)

    def __call__(self, x) -> np.ndarray:
        x = _as_array(x)
        ### BEGIN SOLUTION
        flip = self.rng.random(len(x)) < self.p
        out = x.copy()
        out[flip] = x[flip][..., ::-1]
        return out
        ### END SOLUTION


# %% [markdown]
# ### Unit test: random flips
# `p = 1` and `p = 0` exactly; then a large batch with `p = 0.5`: every image either unchanged
# or mirrored, about half of them mirrored, a new draw at each call, the same draws for the
# same seed, and the input unchanged.

# %% nbgrader={"grade": true, "grade_id": "test-flip", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
def test_unit_flip():
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    kept = x.copy()
    flipped = RandomHorizontalFlip(p=1.0)(x)
    assert np.array_equal(x, kept), "RandomHorizontalFlip changed its input array: compute into a new array"
    unchanged = [i for i in range(2) if np.array_equal(flipped[i], x[i])]
    assert not unchanged, f"p=1 left images {unchanged} of 2 unchanged: an image is mirrored when its draw " \
        f"(uniform in [0, 1)) is below p"
    assert np.array_equal(flipped, x[..., ::-1]), f"p=1 mirrors every image left-right (the last axis), got\n{flipped[0, 0]}"
    none = RandomHorizontalFlip(p=0.0)(x)
    assert np.array_equal(none, x) and not np.shares_memory(none, x), "p=0 returns an unchanged copy"

    batch = np.random.default_rng(0).normal(size=(200, 1, 3, 5)).astype(np.float32)
    kept = batch.copy()
    flip = RandomHorizontalFlip(p=0.5, seed=1)
    some = flip(batch)
    assert np.array_equal(batch, kept), "RandomHorizontalFlip changed its input array"
    same = np.all(some == batch, axis=(1, 2, 3))
    mirrored = np.all(some == batch[..., ::-1], axis=(1, 2, 3))
    assert np.all(same | mirrored), f"each image is either unchanged or mirrored; images {np.flatnonzero(~(same | mirrored))[:5]} are neither"
    assert 0 < mirrored.sum() < 200, \
        f"p=0.5 flipped {mirrored.sum()} of 200 images, all or none: draw one number per image, not one per batch"
    assert 60 < mirrored.sum() < 140, f"p=0.5 should flip about half, flipped {mirrored.sum()}/200"
    assert not np.array_equal(flip(batch), some), "each call draws new flips"
    assert np.array_equal(RandomHorizontalFlip(p=0.5, seed=1)(batch), some), "the same seed gives the same flips"
    print("RandomHorizontalFlip: OK")


if __name__ == "__main__":
    test_unit_flip()

# %% [markdown]
# ## 6. Random crops, vectorized
#
# **`RandomCrop(size, padding=0, seed=None)`** pads every image with `padding` rows and columns
# of zeros on each side, then cuts a `size` window (an int, or `(height, width)`) at a random
# offset, drawn independently and uniformly per image over **every** position where the window
# fits in the padded image; all channels of an image share its offset. It works for any number
# of axes before height and width: `(N, H, W)`, `(N, C, H, W)`, `(N, A, B, H, W)`. A window
# larger than the padded image is a `ValueError` (given).
#
# Worked example: 8×8 digits, `size = 8`, `padding = 1`. The padded image is 10×10, so the
# window's top-left corner can be at rows 0, 1, 2 and columns 0, 1, 2: 9 positions, each with
# probability 1/9. Offset `(1, 1)` gives the original image back; `(0, 2)` shifts it one pixel
# down and one pixel left, with a column of zeros entering on the right.
#
# **The design is yours: `N` windows at `N` different offsets, without a loop over images.**
# A loop would pad and slice the `N` images one by one: `N` pads, `N` slices, `N` Python round
# trips per batch, for every batch of every epoch. Find a way to cut a different window out of
# every image with a constant number of NumPy calls, whatever `N` is. A good design costs about
# one padded copy of the batch plus one copy of the output, and never materialises every possible
# window (for a 32×32 CIFAR image with `padding = 4` there are 81 windows per image: copying them
# all would cost 81 times the batch). Think about which NumPy tools can *describe* many windows
# without copying, or build the indices of every output pixel from the offsets with broadcasting.
# `tito hint 08 RandomCrop.__call__` has hints, one level at a time.
#
# The tests judge only behaviour, so any correct approach passes: every crop is a real window of
# its own padded image with one offset shared by its channels; over many images every position
# comes up, about equally often, including both edges of the padding; the same seed gives the
# same crops and each call new ones; any number of leading axes works; the input is unchanged.
#
# **`Compose([t1, t2, ...])`** (given) applies transforms in order.

# %% nbgrader={"grade": false, "grade_id": "crop", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
class RandomCrop:
    """Zero-pad by `padding`, then cut a random `size` window from each image (vectorized)."""

    def __init__(self, size, padding: int = 0, seed: int | None = None):
        self.size = (size, size) if isinstance(size, int | np.integer) else tuple(size)
        self.padding = padding
        self.rng = np.random.default_rng(seed)

    def __call__(self, x) -> np.ndarray:
        x = _as_array(x)
        n, (h, w), (ch, cw), p = len(x), x.shape[-2:], self.size, self.padding
        if ch > h + 2 * p or cw > w + 2 * p:
            raise ValueError(f"RandomCrop: size {self.size} is larger than the padded image "
                             f"{(h + 2 * p, w + 2 * p)}")
        ### BEGIN SOLUTION
        flat = x.reshape(n, -1, h, w)  # carry any channel axes as one
        padded = np.pad(flat, ((0, 0), (0, 0), (p, p), (p, p)))
        windows = np.lib.stride_tricks.sliding_window_view(padded, (ch, cw), axis=(2, 3))  # no copy
        rows = self.rng.integers(0, h + 2 * p - ch + 1, size=n)
        cols = self.rng.integers(0, w + 2 * p - cw + 1, size=n)
        crops = windows[np.arange(n), :, rows, cols]  # one window per image: (N, C, ch, cw)
        return crops.reshape(x.shape[:-2] + (ch, cw))
        ### END SOLUTION


class Compose:
    """Apply transforms in order (given)."""

    def __init__(self, transforms: Sequence[Callable]):
        self.transforms = list(transforms)

    def __call__(self, x) -> np.ndarray:
        for t in self.transforms:
            x = t(x)
        return x


# %% [markdown]
# ### Unit test: random crops
# A crop must be a real window of its padded image (all channels at one offset), the offsets
# must cover every position about equally often, including both edges of the padding; the same
# seed repeats the crops and each call draws new ones; images with several leading axes or
# without a channel axis work, and the input is unchanged. Then `Compose` and the loader's
# `transform`.

# %% nbgrader={"grade": true, "grade_id": "test-crop", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_crop():
    imgs = np.random.default_rng(2).normal(size=(600, 2, 5, 7)).astype(np.float32)
    kept = imgs.copy()
    try:
        crops = RandomCrop((3, 4), padding=1, seed=3)(imgs)
    except IndexError as error:  # an offset past the last position: which range is wrong?
        try:
            RandomCrop(3, padding=1, seed=3)(np.zeros((60, 2, 5, 5), np.float32))
            why = ("A square window on square images crops fine, so the row and column ranges are swapped: the top "
                   "row ranges over the positions of the padded height (0..4 here), the left column over those of "
                   "the padded width (0..5)")
        except IndexError:
            why = ("Even a square window on square images raises it, so an offset goes one past the last position "
                   "where the window fits (rng.integers excludes its upper bound)")
        raise AssertionError(f"RandomCrop((3, 4), padding=1) on images (2, 5, 7) (padded 7x9) raised IndexError: "
                             f"{error}. {why}") from None
    assert np.array_equal(imgs, kept), "RandomCrop changed its input array"
    assert crops.shape == (600, 2, 3, 4), f"600 images (2, 5, 7) cropped to (3, 4): shape {crops.shape}, expected (600, 2, 3, 4)"
    padded = np.pad(imgs, ((0, 0), (0, 0), (1, 1), (1, 1)))
    counts = np.zeros((5, 6), dtype=int)  # padded 7x9, window 3x4: top-left rows 0..4, columns 0..5
    for i in range(600):
        hits = [(r, c) for r in range(5) for c in range(6)
                if np.array_equal(padded[i, :, r:r + 3, c:c + 4], crops[i])]
        if not hits:
            per_channel = [[(r, c) for r in range(5) for c in range(6)
                            if np.array_equal(padded[i, k, r:r + 3, c:c + 4], crops[i, k])] for k in range(2)]
            assert all(per_channel), \
                f"crop {i} is not a 3x4 window of image {i} padded by 1 (offsets per channel: {per_channel})"
            raise AssertionError(f"crop {i}: its two channels were cut at different offsets {per_channel[0]} and "
                                 f"{per_channel[1]}; all channels of an image share one offset")
        counts[hits[0]] += 1
    rows, cols = counts.sum(axis=1), counts.sum(axis=0)
    seen = f"crops per top row 0..4: {rows.tolist()}, per left column 0..5: {cols.tolist()}"
    assert np.count_nonzero(counts) > 1, f"all 600 crops were cut at one offset: draw an offset per image; {seen}"
    assert not (rows[0] == 0 and rows[-1] == 0 and cols[0] == 0 and cols[-1] == 0), \
        f"no crop reaches into the padding: pad every image by `padding` on each side first; {seen}"
    assert rows[-1] and cols[-1], \
        f"no crop starts at the last row 4 or column 5 (5 row and 6 column positions in the padded 7x9 image; " \
        f"the upper bound of rng.integers is exclusive); {seen}"
    assert rows[0] and cols[0], f"no crop starts at row 0 or column 0, the padding's top or left edge; {seen}"
    assert counts.min() >= 5 and counts.max() <= 45, \
        f"offsets must be uniform over the 30 positions (about 20 crops each of 600); seen between " \
        f"{counts.min()} and {counts.max()}: crops per top row {rows.tolist()}, per left column {cols.tolist()}"
    assert np.array_equal(RandomCrop((3, 4), padding=1, seed=3)(imgs), crops), "the same seed gives the same crops"
    again = RandomCrop((3, 4), padding=1, seed=3)
    first = again(imgs)
    assert not np.array_equal(again(imgs), first), "each call draws new offsets"
    full = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    assert np.array_equal(RandomCrop((4, 5), padding=0)(full), full), "a full-size crop without padding is the identity"
    deep = np.random.default_rng(4).normal(size=(50, 2, 3, 6, 6)).astype(np.float32)
    deep_crops = RandomCrop(4, padding=0, seed=5)(deep)  # five axes (N, A, B, H, W): any axes before (H, W)
    assert deep_crops.shape == (50, 2, 3, 4, 4), f"(N, A, B, H, W) = (50, 2, 3, 6, 6) cropped to 4: shape {deep_crops.shape}"
    for i in range(50):
        assert any(np.array_equal(deep[i, ..., r:r + 4, c:c + 4], deep_crops[i]) for r in range(3) for c in range(3)), \
            f"(N, A, B, H, W) input: crop {i} is not one window of image {i} shared by all its 2 x 3 channels"
    gray = RandomCrop(6, padding=2, seed=0)(np.ones((4, 8, 8), np.float32))
    assert gray.shape == (4, 6, 6), f"(N, H, W) images without a channel axis: shape {gray.shape}, expected (4, 6, 6)"
    assert np.array_equal(Compose([Normalize(1.0, 2.0), RandomCrop((4, 5))])(full), (full - 1) / 2), \
        "Compose applies its transforms in order"
    loader = DataLoader(TensorDataset(full, np.arange(2)), batch_size=2, transform=Normalize(1.0, 2.0))
    xb, yb = next(iter(loader))
    assert np.allclose(xb.data, (full - 1) / 2), "the loader applies its transform to the inputs"
    assert np.array_equal(yb.data, [0, 1]), f"the transform leaves the labels alone, got {yb.data}"
    print("RandomCrop: OK")


if __name__ == "__main__":
    test_unit_crop()

# %% [markdown]
# ## Module test
# A full pipeline on TinyDigits, the real data that ships with TinyTorch: a shuffled,
# augmented loader feeds a small MLP for a few epochs, with the training loop of module 07.

# %% nbgrader={"grade": true, "grade_id": "test-module", "locked": true, "points": 15, "schema_version": 3, "solution": false, "task": false}
def test_module():
    from tinytorch.datasets import load_tinydigits
    from tinytorch.layers import Linear, Sequential
    from tinytorch.activations import ReLU
    from tinytorch.losses import CrossEntropyLoss
    from tinytorch.optimizers import Adam
    from tinytorch.autograd import no_grad

    x_train, y_train, x_test, y_test = load_tinydigits()
    train = DataLoader(TensorDataset(x_train, y_train), batch_size=32, shuffle=True, seed=0,
                       transform=Compose([RandomCrop(8, padding=1, seed=0), Normalize(0.3, 0.4)]))
    assert len(train) == 45, f"1437 training samples in batches of 32: 45 batches per epoch, got {len(train)}"
    model = Sequential(Linear(64, 64, rng=0), ReLU(), Linear(64, 10, rng=1))
    loss_fn, opt = CrossEntropyLoss(), Adam(model.parameters(), lr=0.01)
    seen = 0
    for _ in range(8):
        for xb, yb in train:
            seen += len(xb)
            loss = loss_fn(model(xb.reshape(len(xb), 64)), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
    assert seen == 8 * len(x_train), f"8 epochs should see {8 * len(x_train)} samples, saw {seen}"
    test = DataLoader(TensorDataset(x_test, y_test), batch_size=100)
    correct = 0
    with no_grad():
        for xb, yb in test:
            xb = Tensor(Normalize(0.3, 0.4)(xb.data))
            correct += int((model(xb.reshape(len(xb), 64)).data.argmax(axis=1) == yb.data).sum())
    accuracy = correct / len(x_test)
    assert accuracy > 0.85, f"an MLP fed by your loader should pass 85% test accuracy, got {accuracy:.1%}"
    print(f"module 08: all tests passed (TinyDigits MLP test accuracy {accuracy:.1%})")


if __name__ == "__main__":
    test_module()

# %% [markdown]
# ## Reflection
# - TinyDigits at `B = 32` gives 45 steps per epoch. How many steps do 10 epochs of CIFAR-10 at
#   `B = 128` take, and how much memory does one input batch use?
# - Your `RandomCrop` pads the whole batch and gathers with one fancy index. A per-image Python
#   loop would do `N` pads and `N` slices. For `N = 256` CIFAR images, estimate both costs.
# - Why is `drop_last=True` harmless when shuffling but a real loss of data without shuffling?
# - Why must a transform return a new array instead of changing its input in place?
