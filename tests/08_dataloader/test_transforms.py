"""Module 08: batch-wise vectorized transforms, against the exported package."""

from collections import Counter

import numpy as np
import pytest

from tinytorch.dataloader import Compose, Normalize, RandomCrop, RandomHorizontalFlip
from tinytorch.tensor import Tensor
from tinytorch.testing import close, raises


def _batch(shape=(16, 3, 6, 7), seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


# --- Normalize ---------------------------------------------------------------------------------


def test_normalize_per_channel_when_channels_equal_width():
    x = _batch((2, 4, 4, 4))
    mean, want = np.array([0.0, 10.0, 20.0, 30.0]), x.copy()
    out = Normalize(mean, np.ones(4))(x)
    assert np.array_equal(x, want), "Normalize changed its input: compute into a new array"
    close(out, want - mean[None, :, None, None], atol=1e-5,
          what="4 channels of 4x4 images: the means go along axis 1 (channels), not the last axis")


def test_normalize_scalar_and_per_channel():
    x = _batch()
    close(Normalize(0.5, 2.0)(x), (x - 0.5) / 2.0, what="scalar mean and std")
    mean, std = np.array([0.1, -0.2, 0.3]), np.array([1.0, 0.5, 4.0])
    want = (x - mean[None, :, None, None]) / std[None, :, None, None]
    out = Normalize(mean, std)(x)
    assert out.dtype == np.float32, f"Normalize returns float32, got {out.dtype}"
    close(out, want, atol=1e-6, what="per channel along axis 1")


@pytest.mark.parametrize("shape", [(5, 2, 7), (3, 2, 4, 4, 6)])
def test_normalize_per_channel_for_any_number_of_axes(shape):
    x = _batch(shape)
    mean, std = np.array([1.0, -2.0]), np.array([2.0, 4.0])
    align = (1, 2) + (1,) * (len(shape) - 2)
    want = (x - mean.reshape(align)) / std.reshape(align)
    close(Normalize(mean, std)(x), want, atol=1e-6,
          what=f"{shape}: the channels are axis 1, whatever the number of axes after it")


def test_normalize_flat_features_per_column():
    x = _batch((8, 3))
    assert np.allclose(Normalize([1.0, 2.0, 3.0], [1.0, 2.0, 4.0])(x), (x - [1, 2, 3]) / [1, 2, 4])


def test_normalize_accepts_tensors_and_leaves_the_input_alone():
    x = _batch()
    before = x.copy()
    out = Normalize(1.0, 3.0)(Tensor(x))
    assert np.array_equal(x, before), "Normalize changed its input: compute into a new array"
    assert isinstance(out, np.ndarray) and np.allclose(out, (before - 1) / 3), f"got {type(out).__name__}"


def test_normalize_rejects_zero_std():
    with pytest.raises(ValueError, match="std"):
        Normalize(0.0, [1.0, 0.0])


# --- RandomHorizontalFlip ----------------------------------------------------------------------


def test_flip_probability_one_and_zero():
    x = _batch()
    before = x.copy()
    out = RandomHorizontalFlip(p=1.0)(x)
    assert np.array_equal(x, before), "RandomHorizontalFlip changed its input: mirror into a new array"
    kept = [i for i in range(len(x)) if np.array_equal(out[i], x[i])]
    assert not kept, \
        f"p=1 left images {kept[:5]} unchanged: an image is mirrored when its draw (in [0, 1)) is below p"
    assert np.array_equal(out, x[..., ::-1]), \
        "p=1 mirrors every image left-right: the last axis (width) reversed, nothing else"
    unchanged = RandomHorizontalFlip(p=0.0)(x)
    assert np.array_equal(unchanged, x) and not np.shares_memory(unchanged, x), "a new array, even at p=0"


def test_flip_mirrors_a_random_subset_reproducibly():
    x = _batch((400, 2, 3, 4))
    before = x.copy()
    out = RandomHorizontalFlip(p=0.3, seed=7)(x)
    same = np.all(out == x, axis=(1, 2, 3))
    mirrored = np.all(out == x[..., ::-1], axis=(1, 2, 3))
    assert np.all(same ^ mirrored), \
        f"images {np.flatnonzero(~(same ^ mirrored))[:5].tolist()} are neither kept nor mirrored left-right"
    assert 0 < int(mirrored.sum()) < 400, \
        f"p=0.3 mirrored {int(mirrored.sum())} of 400 images, all or none: one draw per image, not per batch"
    assert 80 < int(mirrored.sum()) < 160, \
        f"p=0.3 mirrors about 120 of 400 images, one draw per image: mirrored {int(mirrored.sum())}"
    assert np.array_equal(out, RandomHorizontalFlip(p=0.3, seed=7)(x)), "the same seed gives the same flips"
    assert np.array_equal(x, before), "RandomHorizontalFlip changed its input"
    t = RandomHorizontalFlip(p=0.5, seed=1)
    assert not np.array_equal(t(x), t(x)), "successive calls draw new flips"


# --- RandomCrop --------------------------------------------------------------------------------


def _offsets(images, crops, padding):
    """The (row, col) offset in the padded image of every crop, or fail."""
    size = crops.shape[-2:]
    pad = [(0, 0)] * (images.ndim - 2) + [(padding, padding)] * 2
    padded = np.pad(images, pad)
    found = []
    for img, crop in zip(padded, crops):
        hits = [(r, c) for r in range(img.shape[-2] - size[0] + 1) for c in range(img.shape[-1] - size[1] + 1)
                if np.array_equal(img[..., r:r + size[0], c:c + size[1]], crop)]
        assert hits, "every crop is a window of its own padded image, all channels at one offset"
        found.append(hits[0])
    return found


def _crop(crop, x, make=RandomCrop):
    """`crop(x)`; an IndexError (an offset past the last position where the window fits) fails naming which
    range is wrong, told apart by `make`'s square window on square images."""
    try:
        return crop(x)
    except IndexError as error:
        try:
            make(3, padding=1, seed=0)(np.zeros((60, 2, 5, 5), np.float32))
            why = ("a square window on square images crops fine: the row and column ranges are swapped "
                   "(the top row ranges over the padded height's positions, the left column over the padded "
                   "width's)")
        except IndexError:
            why = ("an offset one past the last position where the window fits (rng.integers excludes its "
                   "upper bound)")
        raise AssertionError(f"RandomCrop({crop.size}, padding={crop.padding}) on {x.shape} raised "
                             f"IndexError ({error}): {why}") from None


class _SwappedRanges:
    """Planted: stands in for a crop that draws the top row over the columns' range and the left column over
    the rows' range. Such a crop reads past the edge (IndexError) where the two ranges differ, and only there;
    elsewhere this one returns zeros of the crop's shape (only the IndexError matters to `_crop`)."""

    def __init__(self, size, padding=0, seed=None):
        self.size, self.padding = (size, size) if isinstance(size, int) else tuple(size), padding

    def __call__(self, x):
        (h, w), (ch, cw), p = x.shape[-2:], self.size, self.padding
        rows, cols = h + 2 * p - ch + 1, w + 2 * p - cw + 1
        if rows != cols:
            raise IndexError(f"offset {max(rows, cols) - 1} is out of bounds for {min(rows, cols)} positions")
        return np.zeros(x.shape[:-2] + (ch, cw), x.dtype)


def test_crop_ranges_swapped_are_named():
    planted = _SwappedRanges((3, 4), padding=1)
    raises(AssertionError, lambda: _crop(planted, _batch((50, 2, 5, 7)), make=_SwappedRanges), "swapped")


@pytest.mark.parametrize("shape,size,padding", [((200, 3, 6, 7), (4, 5), 2), ((200, 8, 8), 8, 1),
                                                ((100, 2, 3, 5, 5), 3, 0), ((50, 1, 4, 4), 4, 0)])
def test_crop_windows_and_offsets(shape, size, padding):
    x = _batch(shape, seed=1)
    before = x.copy()
    crops = _crop(RandomCrop(size, padding=padding, seed=0), x)
    ch, cw = (size, size) if isinstance(size, int) else size
    assert crops.shape == shape[:-2] + (ch, cw)
    offsets = _offsets(x, crops, padding)
    rows, cols = shape[-2] + 2 * padding - ch, shape[-1] + 2 * padding - cw
    assert all(0 <= r <= rows and 0 <= c <= cols for r, c in offsets)
    if rows or cols:
        assert len(set(offsets)) > 1, f"all {len(offsets)} crops cut at {offsets[0]}: one offset per image"
        seen_rows, seen_cols = sorted({r for r, _ in offsets}), sorted({c for _, c in offsets})
        assert seen_rows == list(range(rows + 1)) and seen_cols == list(range(cols + 1)), \
            f"top-left offsets must cover rows 0..{rows} and columns 0..{cols} (the padding included; " \
            f"rng.integers excludes its upper bound); seen rows {seen_rows}, columns {seen_cols}"
    assert np.array_equal(x, before)


def test_crop_offsets_are_uniform_over_every_position_and_new_each_call():
    x = _batch((900, 1, 5, 6), seed=2)
    crop = RandomCrop(3, padding=1, seed=4)
    first = _crop(crop, x)
    counts = Counter(_offsets(x, first, 1))  # padded 7 x 8: 5 x 6 = 30 positions, about 30 crops each
    missing = sorted({(r, c) for r in range(5) for c in range(6)} - set(counts))
    assert not missing, f"offsets never drawn: {missing[:8]} (rows 0..4 and columns 0..5: two ranges)"
    assert min(counts.values()) >= 12 and max(counts.values()) <= 55, f"not uniform: {sorted(counts.items())}"
    assert not np.array_equal(crop(x), first), "each call draws new offsets"


def test_crop_padding_is_zeros():
    crops = RandomCrop(3, padding=2, seed=0)(np.ones((500, 1, 3, 3), np.float32))
    assert set(np.unique(crops)) <= {0.0, 1.0}
    assert (crops == 0).any() and (crops.reshape(500, -1).min(axis=1) == 1).any()


def test_crop_is_reproducible_and_validates_size():
    x = _batch()
    assert np.array_equal(_crop(RandomCrop(4, 1, seed=3), x), RandomCrop(4, 1, seed=3)(x))
    with pytest.raises(ValueError, match="larger"):
        RandomCrop(9, padding=1)(x)


def test_compose_applies_in_order():
    x = _batch()
    out = Compose([Normalize(1.0, 2.0), RandomHorizontalFlip(p=1.0)])(x)
    assert np.allclose(out, ((x - 1) / 2)[..., ::-1])
    assert np.array_equal(Compose([])(x), x)
