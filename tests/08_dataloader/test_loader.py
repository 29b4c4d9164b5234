"""Module 08: DataLoader batching, shuffling and integration with training, against the package."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinytorch.dataloader import DataLoader, Dataset, Normalize, TensorDataset
from tinytorch.tensor import Tensor


def _data(n, features=3):
    x = np.arange(n * features, dtype=np.float32).reshape(n, features)
    return x, np.arange(n)


@settings(max_examples=80, deadline=None)
@given(n=st.integers(0, 70), batch=st.integers(1, 80), drop_last=st.booleans(), shuffle=st.booleans())
def test_batch_count_sizes_and_coverage(n, batch, drop_last, shuffle):
    x, y = _data(n)
    loader = DataLoader(TensorDataset(x, y) if n else TensorDataset(np.zeros((0, 3))), batch_size=batch,
                        shuffle=shuffle, drop_last=drop_last, seed=0)
    expected = n // batch if drop_last else math.ceil(n / batch)
    assert len(loader) == expected, \
        f"N={n}, B={batch}, drop_last={drop_last}: {expected} batches, len() gave {len(loader)}"
    batches = list(loader)
    sizes = [len(b[0]) for b in batches]
    assert len(batches) == expected, \
        f"N={n}, B={batch}, drop_last={drop_last}: {expected} batches, got sizes {sizes}"
    assert all(s == batch for s in sizes[:-1]), \
        f"N={n}, B={batch}: every batch but the last has B samples: {sizes}"
    if drop_last:
        assert all(s == batch for s in sizes)
    elif n:
        assert sum(sizes) == n
    if n and not drop_last:
        labels = np.concatenate([b[1].data for b in batches])
        assert np.array_equal(np.sort(labels), y)
        if not shuffle:
            assert np.array_equal(labels, y)


def test_batches_are_tuples_of_float32_tensors_in_field_order():
    x, y = _data(10)
    for xb, yb in DataLoader(TensorDataset(x, y), batch_size=4):
        assert isinstance(xb, Tensor) and isinstance(yb, Tensor), \
            f"a batch is a tuple of Tensors, got ({type(xb).__name__}, {type(yb).__name__})"
        assert xb.dtype == np.float32 and yb.dtype == np.float32
        assert np.array_equal(xb.data[:, 0] / 3, yb.data)
        assert not xb.requires_grad


def test_no_shuffle_keeps_order_and_last_batch_is_short():
    x, y = _data(10)
    batches = list(DataLoader(TensorDataset(x, y), batch_size=4))
    assert [b[1].data.tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_drop_last_drops_the_short_batch():
    x, y = _data(10)
    loader = DataLoader(TensorDataset(x, y), batch_size=4, drop_last=True)
    assert len(loader) == 2
    assert [b[1].data.tolist() for b in loader] == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_shuffle_is_reproducible_and_new_every_epoch():
    x, y = _data(64)

    def run(seed, epochs=4):
        loader = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True, seed=seed)
        return [np.concatenate([yb.data for _, yb in loader]) for _ in range(epochs)]

    a, b, c = run(123), run(123), run(124)
    for ep in a:
        assert np.array_equal(np.sort(ep), y), \
            f"each epoch visits every sample once: {len(np.unique(ep))} distinct of {len(ep)}"
    assert not np.array_equal(a[0], y), "shuffle=True must change the order"
    assert len({tuple(ep) for ep in a}) == 4, "each epoch draws a new permutation"
    assert all(np.array_equal(p, q) for p, q in zip(a, b)), \
        "two loaders with the same seed must give the same epochs: draw each permutation from self.rng"
    assert not np.array_equal(a[0], c[0]), "a different seed gives a different order"


def test_shuffle_keeps_rows_paired():
    x, y = _data(40)
    for xb, yb in DataLoader(TensorDataset(x, y), batch_size=7, shuffle=True, seed=5):
        rows = x[yb.data.astype(int)]
        apart = np.flatnonzero(~np.all(xb.data == rows, axis=1))
        assert apart.size == 0, (f"x and y rows must stay paired: at positions {apart[:5].tolist()}, the "
                                 f"inputs belong to labels other than {yb.data[apart[:5]].tolist()}")


def test_shuffle_with_drop_last_drops_different_samples_each_epoch():
    x, y = _data(30)
    loader = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True, drop_last=True, seed=1)
    seen = [set(np.concatenate([yb.data for _, yb in loader]).astype(int)) for _ in range(5)]
    assert all(len(s) == 24 for s in seen)
    assert len({frozenset(set(range(30)) - s) for s in seen}) > 1


def test_shuffle_default_seed_none_still_covers_everything():
    x, y = _data(33)
    loader = DataLoader(TensorDataset(x, y), batch_size=5, shuffle=True)
    labels = np.concatenate([yb.data for _, yb in loader])
    assert np.array_equal(np.sort(labels), y)


def test_tensor_dataset_batches_without_per_sample_calls():
    class NoPerSample(TensorDataset):
        def __getitem__(self, index):
            raise AssertionError("the hot path must not index one sample at a time")

    calls = []

    class Counting(NoPerSample):
        def get_batch(self, indices):
            calls.append(len(indices))
            return super().get_batch(indices)

    x, y = _data(100)
    batches = list(DataLoader(Counting(x, y), batch_size=32, shuffle=True, seed=0))
    assert len(batches) == 4 and calls == [32, 32, 32, 4]


def test_generic_and_duck_typed_datasets_are_collated():
    class Subclass(Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return np.array([i, -i], dtype=np.float32), i

    class Duck:
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return np.array([i, -i], dtype=np.float32), i

    for ds in (Subclass(), Duck()):
        batches = list(DataLoader(ds, batch_size=2))
        assert [b[0].shape for b in batches] == [(2, 2), (2, 2), (1, 2)]
        assert np.array_equal(batches[1][0].data, [[2, -2], [3, -3]])
        assert np.array_equal(batches[2][1].data, [4])


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "32", None])
def test_batch_size_must_be_a_positive_integer(bad):
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(TensorDataset(np.zeros((4, 1))), batch_size=bad)


def test_numpy_integer_batch_size_is_accepted():
    assert len(DataLoader(TensorDataset(np.zeros((10, 1))), batch_size=np.int64(3))) == 4


def test_transform_sees_numpy_inputs_only():
    seen = []

    def transform(batch):
        seen.append(type(batch))
        return batch * 10

    x, y = _data(6)
    xb, yb = next(iter(DataLoader(TensorDataset(x, y), batch_size=6, transform=transform)))
    assert seen == [np.ndarray], \
        f"one call of the transform per batch, on the inputs (field 0) only, as an array; calls saw {seen}"
    assert np.array_equal(xb.data, x * 10) and np.array_equal(yb.data, y)


def test_transform_does_not_modify_the_dataset():
    x, y = _data(6)
    original = x.copy()
    for _ in DataLoader(TensorDataset(x, y), batch_size=3, transform=Normalize(1.0, 2.0)):
        pass
    assert np.array_equal(x, original)


def test_loader_is_reiterable_and_len_is_stable():
    x, y = _data(9)
    loader = DataLoader(TensorDataset(x, y), batch_size=4)
    assert len(loader) == 3 and len(list(loader)) == 3 and len(list(loader)) == 3


def test_labels_feed_cross_entropy_and_training_reduces_the_loss():
    from tinytorch.layers import Linear
    from tinytorch.losses import CrossEntropyLoss
    from tinytorch.optimizers import SGD

    rng = np.random.default_rng(0)
    centers = rng.normal(size=(3, 4)) * 3
    y = rng.integers(0, 3, 300)
    x = (centers[y] + rng.normal(size=(300, 4))).astype(np.float32)
    model = Linear(4, 3, rng=0)
    opt, loss_fn = SGD(model.parameters(), lr=0.1), CrossEntropyLoss()
    loader = DataLoader(TensorDataset(x, y), batch_size=30, shuffle=True, seed=0)
    losses = []
    for _ in range(5):
        total = 0.0
        for xb, yb in loader:
            loss = loss_fn(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item()
        losses.append(total / len(loader))
    assert losses[-1] < losses[0] / 2


def test_len_matches_pytorch():
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader as TorchLoader
    from torch.utils.data import TensorDataset as TorchDataset

    for n in (1, 7, 32, 33, 100):
        for batch in (1, 4, 32, 64):
            for drop_last in (False, True):
                ours = DataLoader(TensorDataset(np.zeros((n, 2))), batch_size=batch, drop_last=drop_last)
                theirs = TorchLoader(TorchDataset(torch.zeros(n, 2)), batch_size=batch, drop_last=drop_last)
                assert len(ours) == len(theirs) == len(list(ours)), (n, batch, drop_last)
