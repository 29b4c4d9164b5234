"""Module 08: Dataset, TensorDataset and collate, against the exported package."""

import numpy as np
import pytest

from tinytorch.dataloader import Dataset, TensorDataset, collate
from tinytorch.tensor import Tensor


def test_tensor_dataset_pairs_rows_of_every_array():
    x = np.arange(12, dtype=np.float64).reshape(6, 2)
    y = np.array([3, 1, 4, 1, 5, 9])
    ds = TensorDataset(x, y)
    assert len(ds) == 6
    for i in range(6):
        xi, yi = ds[i]
        assert np.array_equal(xi, x[i]) and yi == y[i]


def test_tensor_dataset_accepts_tensors_lists_and_one_array():
    ds = TensorDataset(Tensor([[1.0, 2.0], [3.0, 4.0]]), [7, 8])
    assert len(ds) == 2
    assert np.array_equal(ds[1][0], [3.0, 4.0]) and ds[1][1] == 8
    (only,) = TensorDataset(np.zeros((3, 4)))[2]
    assert only.shape == (4,)


def test_tensor_dataset_stores_floats_as_float32_and_keeps_integer_labels():
    ds = TensorDataset(np.ones((4, 3), dtype=np.float64), np.arange(4, dtype=np.int64),
                       np.ones(4, dtype=np.uint8))
    assert ds.arrays[0].dtype == np.float32, \
        f"floating arrays are stored as float32, got {ds.arrays[0].dtype}"
    assert ds.arrays[1].dtype == np.int64, f"integer labels keep their dtype int64, got {ds.arrays[1].dtype}"
    assert ds.arrays[2].dtype == np.uint8, f"uint8 images keep their dtype, got {ds.arrays[2].dtype}"


def test_tensor_dataset_does_not_copy_float32_arrays():
    x = np.zeros((5, 2), dtype=np.float32)
    assert np.shares_memory(TensorDataset(x).arrays[0], x), \
        "a float32 array is stored as it is, without a copy"


@pytest.mark.parametrize("arrays", [(np.zeros((5, 3)), np.zeros(4)), (np.zeros(3), np.zeros(3), np.zeros(2))])
def test_tensor_dataset_length_mismatch_names_the_shapes(arrays):
    with pytest.raises(ValueError, match="same first dimension") as err:
        TensorDataset(*arrays)
    for a in arrays:
        assert str(a.shape) in str(err.value)


def test_tensor_dataset_rejects_nothing_and_scalars():
    with pytest.raises(ValueError):
        TensorDataset()
    with pytest.raises(ValueError, match="first"):
        TensorDataset(np.float32(3.0))


def test_get_batch_is_a_fancy_index_gather():
    x = np.random.default_rng(0).normal(size=(50, 3, 4)).astype(np.float32)
    y = np.arange(50)
    idx = np.array([49, 0, 7, 7, 13])
    batch = TensorDataset(x, y).get_batch(idx)
    assert isinstance(batch, tuple) and len(batch) == 2, \
        f"get_batch returns a tuple with one array per field, got {type(batch).__name__}"
    xb, yb = batch
    assert np.array_equal(xb, x[idx]) and np.array_equal(yb, y[idx]), \
        "the rows at idx, in order, repeats included"


class _Reads(np.ndarray):
    """An array that records every index it is read with."""

    log: list = []

    def __getitem__(self, index):
        _Reads.log.append(index)
        return super().__getitem__(index)


def test_get_batch_reads_each_array_once_not_once_per_sample():
    ds = TensorDataset(np.zeros((40, 3), dtype=np.float32), np.arange(40))
    ds.arrays = tuple(a.view(_Reads) for a in ds.arrays)
    _Reads.log.clear()
    xb, yb = ds.get_batch(np.array([5, 39, 0, 5, 12, 7]))
    assert len(_Reads.log) <= 2, (
        f"get_batch read the 2 arrays {len(_Reads.log)} times for a batch of 6 (first indices "
        f"{[str(i) for i in _Reads.log[:3]]}): a loop over samples; gather each array's rows with one index"
    )
    assert np.array_equal(np.asarray(yb), [5, 39, 0, 5, 12, 7])


def test_base_dataset_is_abstract():
    ds = Dataset()
    with pytest.raises(NotImplementedError):
        len(ds)
    with pytest.raises(NotImplementedError):
        ds[0]


def test_base_get_batch_stacks_samples_of_a_subclass():
    class Squares(Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return np.full(2, i * i, dtype=np.float32), i

    xb, yb = Squares().get_batch(np.array([4, 1]))
    assert np.array_equal(xb, [[16, 16], [1, 1]]) and np.array_equal(yb, [4, 1])


def test_collate_tuples_single_items_and_tensors():
    fields = collate([(np.zeros(2), 1), (np.ones(2), 0)])
    assert len(fields) == 2 and fields[0].shape == (2, 2) and np.array_equal(fields[1], [1, 0])
    (single,) = collate([np.zeros((2, 2)), np.ones((2, 2)), np.ones((2, 2))])
    assert single.shape == (3, 2, 2)
    (tensors,) = collate([Tensor([1.0, 2.0]), Tensor([3.0, 4.0])])
    assert np.array_equal(tensors, [[1, 2], [3, 4]])
    with pytest.raises(ValueError):
        collate([])
