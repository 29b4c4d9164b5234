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
# Write your code between `### BEGIN SOLUTION` and `### END SOLUTION`; run the test cell right
# after each piece. When every test passes, run `tito module complete 08`.

# %% nbgrader={"grade": false, "grade_id": "dataloader-setup", "locked": false, "schema_version": 3, "solution": false, "task": false}
#| default_exp dataloader
#| export
import math
from collections.abc import Callable, Iterator, Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

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
# one batch. For `N` samples and batch size `B`:
#
# | setting | batches per epoch | last batch |
# |---|---|---|
# | `drop_last=False` | `ceil(N / B)` | `N - (ceil(N/B) - 1)·B` samples (a short batch) |
# | `drop_last=True` | `floor(N / B)` | always `B` samples; `N mod B` samples skipped this epoch |
#
# TinyDigits' training split has `N = 1437`: at `B = 32` that is 45 batches per epoch (44 full
# ones and one of 29), or 44 with `drop_last=True`, dropping 29 samples (2 %) per epoch, a
# different 29 each epoch when shuffling. Twenty epochs are 900 optimizer steps.
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
# results: for a batch of 32 TinyDigits images, some tens of microseconds against about 2 µs
# for the gather on our 2-core machine (time both on yours with `%timeit`). The arithmetic of
# training is vectorized; the loader that feeds it should be too.
#
# `TensorDataset` must refuse arrays of different lengths at once, with the shapes in the
# message: a silent mismatch would pair images with the wrong labels.

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
        # Hint: convert each with `_as_array`; refuse a 0-d array (no sample axis); cast floating
        # arrays (`np.issubdtype(a.dtype, np.floating)`) with `astype(np.float32, copy=False)`.
        # If the first dimensions differ, raise ValueError naming every array's shape.
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
        """Number of samples: the shared first dimension."""
        ### BEGIN SOLUTION
        return self.arrays[0].shape[0]
        ### END SOLUTION

    def __getitem__(self, index: int) -> tuple[np.ndarray, ...]:
        """Sample `index`: a tuple with row `index` of every array."""
        ### BEGIN SOLUTION
        return tuple(a[index] for a in self.arrays)
        ### END SOLUTION

    def get_batch(self, indices: np.ndarray) -> tuple[np.ndarray, ...]:
        """One fancy-indexing gather per array: no Python loop over samples."""
        # Hint: `a[indices]` with an integer array picks those rows, in that order, in one call.
        ### BEGIN SOLUTION
        return tuple(a[indices] for a in self.arrays)
        ### END SOLUTION


# %% [markdown]
# ### Unit test: datasets

# %% nbgrader={"grade": true, "grade_id": "test-dataset", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_dataset():
    x = np.arange(20, dtype=np.float64).reshape(10, 2)
    y = np.arange(10) % 3
    ds = TensorDataset(x, Tensor(y))
    assert len(ds) == 10, f"len should be 10, got {len(ds)}"
    xi, yi = ds[7]
    assert np.array_equal(xi, [14.0, 15.0]) and yi == 1, f"ds[7] gave {(xi, yi)}"
    assert ds.arrays[0].dtype == np.float32, "floating arrays are stored as float32"
    xb, yb = ds.get_batch(np.array([9, 0, 4]))
    assert np.array_equal(xb, x[[9, 0, 4]]) and np.array_equal(yb, [0, 0, 1]), "get_batch gathers rows"
    try:
        TensorDataset(np.zeros((5, 3)), np.zeros(4))
    except ValueError as err:
        assert "(5, 3)" in str(err) and "(4,)" in str(err), f"the error should name the shapes: {err}"
    else:
        raise AssertionError("arrays of different lengths must raise ValueError")
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
# batch, as a NumPy array, before it becomes a Tensor; section 4 writes some.
#
# The plumbing is given. You write `__len__` (the table in section 1) and the body of
# `__iter__`: the epoch's order of indices, then one `self._fetch(indices)` per batch. `_fetch`
# (given) calls the dataset's vectorized `get_batch`, or `collate` for datasets that only define
# `__len__` and `__getitem__`.

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
        """Number of batches per epoch."""
        # Hint: the table of section 1; `math.ceil` and `//`.
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
        """One epoch: yield `len(self)` batches, each a tuple of Tensors (one per field)."""
        # Hint: the order is `self.rng.permutation(n)` when shuffling, else `np.arange(n)`; batch
        # `b` takes the slice `[b·B:(b + 1)·B]` of it. Apply `self.transform` (if any) to the
        # first field only, then wrap every field in a Tensor. Draw one permutation per epoch.
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
    assert len(batches) == 3 and [len(b[1]) for b in batches] == [4, 4, 2], "batch sizes 4, 4, 2"
    xb, yb = batches[1]
    assert isinstance(xb, Tensor) and isinstance(yb, Tensor), "batches are tuples of Tensors"
    assert xb.shape == (4, 3) and np.array_equal(xb.data, x[4:8]), "no shuffle: samples in order"
    assert np.array_equal(yb.data, [4, 5, 6, 7])
    dropped = DataLoader(TensorDataset(x, y), batch_size=4, drop_last=True)
    assert len(dropped) == 2, f"drop_last: 2 full batches, got {len(dropped)}"
    assert [len(b[0]) for b in dropped] == [4, 4], "drop_last yields only full batches"
    assert len(DataLoader(TensorDataset(x), batch_size=5, drop_last=True)) == 2
    assert len(DataLoader(TensorDataset(x), batch_size=32)) == 1, "one short batch when B > N"
    assert len(DataLoader(TensorDataset(x), batch_size=32, drop_last=True)) == 0
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
                assert np.array_equal(xb.data[:, 0], yb.data), "x and y rows must stay paired"
            result.append(np.concatenate([yb.data for _, yb in parts]))
        return result
    a, b = epochs(7), epochs(7)
    for ep in a:
        assert np.array_equal(np.sort(ep), y), "each epoch visits every sample exactly once"
    assert not np.array_equal(a[0], y), "shuffle=True must change the order"
    assert not np.array_equal(a[0], a[1]), "each epoch needs a new permutation"
    assert all(np.array_equal(p, q) for p, q in zip(a, b)), "the same seed gives the same epochs"
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
    assert [b[0].shape for b in batches] == [(3, 2), (3, 2), (1, 2)], "generic datasets are stacked"
    assert np.array_equal(batches[1][0].data, [[3, 9], [4, 16], [5, 25]])
    assert np.array_equal(batches[1][1].data, [1, 0, 1])

    class Counting(TensorDataset):
        calls = {"getitem": 0, "get_batch": 0}
        def __getitem__(self, i):
            Counting.calls["getitem"] += 1
            return super().__getitem__(i)
        def get_batch(self, indices):
            Counting.calls["get_batch"] += 1
            return super().get_batch(indices)
    loader = DataLoader(Counting(np.zeros((64, 4)), np.zeros(64)), batch_size=16, shuffle=True, seed=0)
    assert sum(1 for _ in loader) == 4
    assert Counting.calls == {"getitem": 0, "get_batch": 4}, \
        f"one get_batch per batch and no per-sample __getitem__, got {Counting.calls}"
    print("generic datasets: OK")


if __name__ == "__main__":
    test_unit_generic()

# %% [markdown]
# ## 4. Augmentation, a batch at a time
#
# A network that sees the same 1,437 images for 50 epochs starts to memorise them. Small
# random changes that keep the label (a shift of a pixel or two, a mirror image for photos)
# give it effectively new samples for free. PyTorch's `torchvision` applies these per sample
# in Python; we apply them to the **whole batch** with array operations, one random draw per
# sample but no loop.
#
# Each transform is a callable object: `transform(batch) -> batch`, NumPy in, NumPy out, a new
# array (never modify the input: it may be a view of the dataset). The last two axes are
# height and width; any axes between the batch axis and those (channels) are carried along.
#
# - **`Normalize(mean, std)`**: `(x - mean) / std`, per channel when `mean` and `std` are
#   sequences (they broadcast over axis 1 of an `(N, C, H, W)` batch). Centred inputs of unit
#   scale keep the first layer's pre-activations in a sensible range.
# - **`RandomHorizontalFlip(p=0.5)`**: mirror a random subset of the images (`x[..., ::-1]`,
#   a view). Right for photos, wrong for digits (a mirrored 2 is not a 2), so it is off by
#   default: you choose transforms that keep the label.
# - **`RandomCrop(size, padding=0)`**: pad the batch with zeros once, then cut a `size × size`
#   window at a random offset per image. The vectorized trick: `sliding_window_view` of the
#   padded batch has shape `(N, C, H', W', size, size)`, every window of every image, *without
#   copying*; fancy indexing with one `(row, column)` offset per image picks one window each.
#   Cost: one padded copy of the batch plus one gather.
# - **`Compose([t1, t2, ...])`** chains them.
#
# Each random transform owns a `np.random.default_rng(seed)`, so augmentation is reproducible.

# %% nbgrader={"grade": false, "grade_id": "transforms", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
class Normalize:
    """`(x - mean) / std`; per channel (axis 1) when mean and std are sequences."""

    def __init__(self, mean, std):
        self.mean = np.asarray(mean, dtype=np.float32)
        self.std = np.asarray(std, dtype=np.float32)
        if np.any(self.std == 0):
            raise ValueError("Normalize: std must be non-zero")

    def __call__(self, x) -> np.ndarray:
        x = _as_array(x)
        # Hint: a scalar mean/std broadcasts as it is. A (C,) one must line up with axis 1:
        # reshape it to (C, 1, 1) for (N, C, H, W), (C, 1) for (N, C, L), i.e. `x.ndim - 2`
        # trailing ones. Return float32.
        ### BEGIN SOLUTION
        mean, std = self.mean, self.std
        if mean.ndim == 1 and x.ndim > 2:  # per channel: shape (C, 1, 1) broadcasts over (N, C, H, W)
            mean = mean.reshape((-1,) + (1,) * (x.ndim - 2))
        if std.ndim == 1 and x.ndim > 2:
            std = std.reshape((-1,) + (1,) * (x.ndim - 2))
        return ((x - mean) / std).astype(np.float32, copy=False)
        ### END SOLUTION


class RandomHorizontalFlip:
    """Mirror each image left-right with probability `p` (one random draw per image)."""

    def __init__(self, p: float = 0.5, seed: int | None = None):
        self.p = p
        self.rng = np.random.default_rng(seed)

    def __call__(self, x) -> np.ndarray:
        x = _as_array(x)
        # Hint: `self.rng.random(len(x)) < self.p` is a boolean mask, one draw per image. Copy
        # `x`, then overwrite the masked images with their mirror (`[..., ::-1]`).
        ### BEGIN SOLUTION
        flip = self.rng.random(len(x)) < self.p
        out = x.copy()
        out[flip] = x[flip][..., ::-1]
        return out
        ### END SOLUTION


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
        # Hint: merge any channel axes into one (`x.reshape(n, -1, h, w)`), zero-pad the last two
        # axes with `np.pad`, take `sliding_window_view(..., (ch, cw), axis=(2, 3))`. Draw a row
        # and a column offset per image with `self.rng.integers(0, high, size=n)` (high is
        # exclusive: there are h + 2p - ch + 1 rows to choose from). Indexing the view with
        # `[np.arange(n), :, rows, cols]` picks one window per image: shape (N, C, ch, cw).
        # Reshape back to `x.shape[:-2] + (ch, cw)`.
        ### BEGIN SOLUTION
        flat = x.reshape(n, -1, h, w)  # carry any channel axes as one
        padded = np.pad(flat, ((0, 0), (0, 0), (p, p), (p, p)))
        windows = sliding_window_view(padded, (ch, cw), axis=(2, 3))  # (N, C, H', W', ch, cw), no copy
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
# ### Unit test: transforms
# Each check uses values, not only shapes: a crop must be a real window of the padded image at
# the drawn offset, a flip must reverse exactly the flipped images' columns. No transform may
# change its input array.

# %% nbgrader={"grade": true, "grade_id": "test-transforms", "locked": true, "points": 15, "schema_version": 3, "solution": false, "task": false}
def test_unit_transforms():
    def apply(transform, batch):  # the input may be a view of the dataset: it must stay as it was
        kept = batch.copy()
        result = transform(batch)
        assert np.array_equal(batch, kept), \
            f"{type(transform).__name__} changed its input array: compute into a new array instead"
        return result

    x = np.arange(2 * 3 * 4 * 4, dtype=np.float32).reshape(2, 3, 4, 4)
    out = apply(Normalize([1.0, 2.0, 3.0], [2.0, 4.0, 8.0]), x)
    assert out.shape == x.shape and out.dtype == np.float32
    assert np.allclose(out[:, 1], (x[:, 1] - 2.0) / 4.0), "per-channel statistics go along axis 1"
    assert np.allclose(Normalize(0.5, 0.25)(x), (x - 0.5) / 0.25)
    signals = np.ones((4, 2, 5), np.float32)  # (N, C, L): channels are still axis 1
    assert np.allclose(Normalize([1.0, 3.0], [1.0, 2.0])(signals)[:, 1], -1.0), "per channel along axis 1"

    flipped = apply(RandomHorizontalFlip(p=1.0), x)
    assert np.array_equal(flipped, x[..., ::-1]), "p=1 flips every image left-right"
    assert np.array_equal(RandomHorizontalFlip(p=0.0)(x), x)
    batch = np.random.default_rng(0).normal(size=(200, 1, 3, 5)).astype(np.float32)
    some = apply(RandomHorizontalFlip(p=0.5, seed=1), batch)
    same = np.all(some == batch, axis=(1, 2, 3))
    mirrored = np.all(some == batch[..., ::-1], axis=(1, 2, 3))
    assert np.all(same | mirrored), "each image is either unchanged or mirrored"
    assert 60 < mirrored.sum() < 140, f"p=0.5 should flip about half, flipped {mirrored.sum()}/200"

    crop = RandomCrop(4, padding=0)(x)
    assert np.array_equal(crop, x), "a full-size crop without padding is the identity"
    imgs = np.random.default_rng(2).normal(size=(300, 2, 5, 7)).astype(np.float32)
    crops = apply(RandomCrop((3, 4), padding=1, seed=3), imgs)
    assert crops.shape == (300, 2, 3, 4) and not np.array_equal(crops[0], crops[1])
    padded = np.pad(imgs, ((0, 0), (0, 0), (1, 1), (1, 1)))
    offsets = set()
    for i in range(300):
        hits = [(r, c) for r in range(5) for c in range(6)
                if np.array_equal(padded[i, :, r:r + 3, c:c + 4], crops[i])]
        assert hits, f"crop {i} is not a window of the padded image (channels must move together)"
        offsets.add(hits[0])
    assert len(offsets) > 20, f"offsets should vary over the 30 positions, saw {len(offsets)}"
    assert (0, 0) in offsets and (4, 5) in offsets, "crops must reach into the padding on both sides"
    gray = RandomCrop(6, padding=2, seed=0)(np.ones((4, 8, 8), np.float32))
    assert gray.shape == (4, 6, 6), "works without a channel axis too"
    assert np.array_equal(Compose([Normalize(1.0, 2.0), RandomCrop(4)])(x), (x - 1) / 2)
    loader = DataLoader(TensorDataset(x, np.arange(2)), batch_size=2, transform=Normalize(1.0, 2.0))
    xb, yb = next(iter(loader))
    assert np.allclose(xb.data, (x - 1) / 2), "the loader applies its transform to the inputs"
    assert np.array_equal(yb.data, [0, 1]), "the transform leaves the labels alone"
    print("transforms: OK")


if __name__ == "__main__":
    test_unit_transforms()

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
    assert len(train) == math.ceil(len(x_train) / 32)
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
