"""Grading probes for module 08 (DataLoader): the graded checks again, on inputs drawn at grading time.

tito calls each probe after the notebook's cells, with the notebook's namespace and a seeded NumPy
generator, and compares what it returns with the reference's values (tito/grading/probes.py).
The contract fixes what a shuffle, a flip or a crop may do, not which random numbers it draws, so
random results are returned in a form every correct implementation shares: samples put back in
order, images un-mirrored, the offset each crop was cut at checked here.
"""

import numpy as np

from tinytorch.tensor import Tensor


def _error(call):
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - the kind of error (and its message) is the value
        return type(exc).__name__, str(exc)
    return "no error", ""


def dataset(ns, rng):
    TensorDataset = ns["TensorDataset"]
    n, d = int(rng.integers(5, 12)), int(rng.integers(1, 4))
    x, y = rng.normal(size=(n, d)), rng.integers(0, 5, size=n)
    ds = TensorDataset(x, Tensor(y))
    i = int(rng.integers(0, n))
    indices = rng.integers(0, n, size=int(rng.integers(3, 8)))  # repeats allowed
    xb, yb = ds.get_batch(indices)
    out = {"len": len(ds), "item_x": ds[i][0], "item_y": ds[i][1], "batch_x": xb, "batch_y": yb,
           "is_tuple": isinstance(ds.arrays, tuple), "dtypes": " ".join(str(a.dtype) for a in ds.arrays)}
    reads = []

    class Reads(np.ndarray):  # records every index an array is read with
        def __getitem__(self, index):
            reads.append(1)
            return super().__getitem__(index)

    ds.arrays = tuple(a.view(Reads) for a in ds.arrays)
    ds.get_batch(np.arange(n))
    out["one_gather_per_array"] = len(reads) <= 2
    images = rng.normal(size=(n, 2, 3)).astype(np.float32)
    kept = TensorDataset(images, rng.integers(0, 9, size=n).astype(np.uint8))
    out["float32_not_copied"] = bool(np.shares_memory(kept.arrays[0], images))
    out["uint8_kept"] = str(kept.arrays[1].dtype)
    a, b = (int(rng.integers(2, 6)), int(rng.integers(1, 4))), (int(rng.integers(6, 9)),)
    kind, message = _error(lambda: TensorDataset(np.zeros(a), np.zeros(b)))
    out["mismatch"] = kind
    out["mismatch_names_shapes"] = str(a) in message and str(b) in message and "same first dimension" in message
    out["scalar"] = _error(lambda: TensorDataset(np.float32(rng.normal())))[0]
    return out


def batching(ns, rng):
    n, size = int(rng.integers(5, 30)), int(rng.integers(2, 8))
    x = rng.normal(size=(n, 3)).astype(np.float32)
    y = np.arange(n)
    loader = ns["DataLoader"](ns["TensorDataset"](x, y), batch_size=size)
    batches = list(loader)
    out = {"len": len(loader), "sizes": np.array([len(b[1].data) for b in batches]),
           "all_tensors": all(isinstance(t, Tensor) for b in batches for t in b),
           "x_in_order": np.concatenate([b[0].data for b in batches]),
           "y_in_order": np.concatenate([b[1].data for b in batches]),
           "second_epoch": len(list(loader))}
    dropped = ns["DataLoader"](ns["TensorDataset"](x, y), batch_size=size, drop_last=True)
    out["drop_last_len"] = len(dropped)
    out["drop_last_y"] = np.concatenate([b[1].data for b in dropped] or [np.zeros(0, np.float32)])
    counts = []
    for _ in range(4):  # edges: B > N, an empty dataset
        m, b = int(rng.integers(0, 12)), int(rng.integers(1, 15))
        for drop in (False, True):
            counts.append(len(ns["DataLoader"](ns["TensorDataset"](np.zeros((m, 2))), batch_size=b, drop_last=drop)))
    out["len_edges"] = np.array(counts)
    return out


def _epochs(ns, x, y, seed, count, size):
    """Each epoch's (labels, inputs) in the order served, and whether pairs stayed together."""
    loader = ns["DataLoader"](ns["TensorDataset"](x, y), batch_size=size, shuffle=True, seed=seed)
    result = []
    for _ in range(count):
        parts = list(loader)
        result.append((np.concatenate([b[1].data for b in parts]), np.concatenate([b[0].data for b in parts])))
    return result


def shuffle(ns, rng):
    n, size = int(rng.integers(30, 80)), int(rng.integers(4, 16))
    x = rng.normal(size=(n, 2)).astype(np.float32)
    y = np.arange(n)
    seed = int(rng.integers(0, 2**31))
    a, b = _epochs(ns, x, y, seed, 3, size), _epochs(ns, x, y, seed, 3, size)
    other = _epochs(ns, x, y, seed + 1, 1, size)[0][0]
    out = {}
    for k, (labels, inputs) in enumerate(a):
        order = np.argsort(labels, kind="stable")
        out[f"epoch{k}_sorted_labels"] = labels[order]  # every sample exactly once
        out[f"epoch{k}_inputs_by_label"] = inputs[order]  # x[i] still served with y[i]
    out["shuffled"] = not np.array_equal(a[0][0], y)
    out["epochs_differ"] = not np.array_equal(a[0][0], a[1][0]) and not np.array_equal(a[1][0], a[2][0])
    out["same_seed_same_epochs"] = all(np.array_equal(p[0], q[0]) for p, q in zip(a, b))
    out["other_seed_other_order"] = not np.array_equal(other, a[0][0])
    return out


def generic(ns, rng):
    n, size = int(rng.integers(4, 15)), int(rng.integers(2, 5))
    table = rng.normal(size=(n, 2)).astype(np.float32)
    labels = rng.integers(0, 3, size=n)

    class Rows:  # duck-typed: no Dataset base, no get_batch
        def __len__(self):
            return n

        def __getitem__(self, i):
            return table[i], labels[i]

    batches = list(ns["DataLoader"](Rows(), batch_size=size))
    out = {"shapes": np.array([b[0].shape for b in batches]), "x": np.concatenate([b[0].data for b in batches]),
           "y": np.concatenate([b[1].data for b in batches])}
    calls = {"getitem": 0, "get_batch": 0}

    class Counting(ns["TensorDataset"]):
        def __getitem__(self, i):
            calls["getitem"] += 1
            return super().__getitem__(i)

        def get_batch(self, indices):
            calls["get_batch"] += 1
            return super().get_batch(indices)

    m = int(rng.integers(20, 70))
    loader = ns["DataLoader"](Counting(rng.normal(size=(m, 3)), np.zeros(m)), batch_size=size, shuffle=True, seed=0)
    out["batches"] = sum(1 for _ in loader)
    out["calls"] = np.array([calls["getitem"], calls["get_batch"]])
    return out


def normalize(ns, rng):
    Normalize = ns["Normalize"]
    c = int(rng.integers(2, 5))
    mean, std = rng.normal(size=c), rng.uniform(0.5, 2, size=c)
    out = {}
    for name, shape in [("images", (2, c, 3, c)), ("square", (2, c, c, c)), ("signals", (3, c, 4)),
                        ("features", (4, c))]:
        x = rng.normal(size=shape).astype(np.float32)
        kept = x.copy()
        out[name] = Normalize(mean, std)(x)
        out[f"{name}_input_kept"] = bool(np.array_equal(x, kept))
    x = rng.normal(size=(2, c, 3, 3))
    m, s = float(rng.normal()), float(rng.uniform(0.5, 2))
    out["scalar"] = Normalize(m, s)(x)
    out["tensor_in"] = Normalize(m, s)(Tensor(x))
    out["type"] = type(out["scalar"]).__name__
    return out


def flip(ns, rng):
    Flip = ns["RandomHorizontalFlip"]
    x = rng.normal(size=(int(rng.integers(2, 5)), 2, 3, int(rng.integers(3, 6)))).astype(np.float32)
    kept = x.copy()
    out = {"p1": Flip(p=1.0)(x), "p0": Flip(p=0.0)(x), "p0_is_copy": not np.shares_memory(Flip(p=0.0)(x), x)}
    batch = rng.normal(size=(200, 1, 3, int(rng.integers(3, 7)))).astype(np.float32)
    p = float(rng.uniform(0.3, 0.7))
    seed = int(rng.integers(0, 2**31))
    flipper = Flip(p=p, seed=seed)
    some = flipper(batch)
    same = np.all(some == batch, axis=(1, 2, 3))
    mirrored = np.all(some == batch[..., ::-1], axis=(1, 2, 3))
    out["each_kept_or_mirrored"] = bool(np.all(same | mirrored))
    out["unmirrored"] = np.where(mirrored[:, None, None, None], some[..., ::-1], some)  # the batch itself
    expected = 200 * p  # a binomial count: 6 standard deviations either side
    out["count_plausible"] = bool(abs(int(mirrored.sum()) - expected) < 6 * np.sqrt(expected * (1 - p)))
    out["new_draws_each_call"] = not np.array_equal(flipper(batch), some)
    out["same_seed_same_flips"] = bool(np.array_equal(Flip(p=p, seed=seed)(batch), some))
    out["inputs_kept"] = bool(np.array_equal(x, kept))
    return out


def _offsets(images, crops, pad, size):
    """For each crop, the (row, col) offsets of its padded image at which it matches, as a boolean
    array (N, rows, cols); all leading axes of an image must match at one offset."""
    n, h, w = len(images), images.shape[-2], images.shape[-1]
    flat = images.reshape(n, -1, h, w)
    wide = np.zeros((n, flat.shape[1], h + 2 * pad, w + 2 * pad), images.dtype)
    wide[:, :, pad:pad + h, pad:pad + w] = flat
    cut = crops.reshape(n, -1, size[0], size[1])
    rows, cols = h + 2 * pad - size[0] + 1, w + 2 * pad - size[1] + 1
    hits = np.zeros((n, rows, cols), dtype=bool)
    for r in range(rows):
        for c in range(cols):
            hits[:, r, c] = np.all(wide[:, :, r:r + size[0], c:c + size[1]] == cut, axis=(1, 2, 3))
    return hits


def crop(ns, rng):
    Crop = ns["RandomCrop"]
    h, w = int(rng.integers(4, 7)), int(rng.integers(4, 7))
    pad = int(rng.integers(1, 3))
    size = (int(rng.integers(h - 1, h + 1)), int(rng.integers(w - 1, w + 1)))
    images = rng.normal(size=(900, 2, h, w)).astype(np.float32)
    kept = images.copy()
    seed = int(rng.integers(0, 2**31))
    cropper = Crop(size, padding=pad, seed=seed)
    crops = cropper(images)
    out = {"shape": np.array(crops.shape), "input_kept": bool(np.array_equal(images, kept))}
    if crops.shape == (900, 2) + size:
        hits = _offsets(images, crops, pad, size)
        counts = hits.reshape(len(hits), -1).sum(axis=0)  # crops cut at each offset
        expected = len(hits) / counts.size  # at least 25: a count under 3 or over 3x is ~1e-8 likely
        out["every_crop_a_window"] = bool((hits.sum(axis=(1, 2)) == 1).all())
        out["offsets_uniform"] = bool(counts.min() >= 3 and counts.max() <= 3 * expected)
    out["same_seed_same_crops"] = bool(np.array_equal(Crop(size, padding=pad, seed=seed)(images), crops))
    out["new_draws_each_call"] = not np.array_equal(cropper(images), crops)
    # one position only: the whole padded image, and the identity without padding
    small = rng.normal(size=(3, 2, h, w)).astype(np.float32)
    out["whole_padded"] = Crop((h + 2 * pad, w + 2 * pad), padding=pad)(small)
    out["identity"] = Crop((h, w))(small)
    deep = rng.normal(size=(40, 2, 3, h, w)).astype(np.float32)
    deep_crops = Crop(size, padding=0, seed=seed)(deep)
    out["deep_shape"] = np.array(deep_crops.shape)
    if deep_crops.shape == (40, 2, 3) + size:
        out["deep_windows"] = bool(_offsets(deep, deep_crops, 0, size).any(axis=(1, 2)).all())
    gray = Crop(h, padding=pad, seed=seed)(rng.normal(size=(4, h, h + 1)).astype(np.float32))
    out["gray_shape"] = np.array(gray.shape)
    out["too_large"] = _error(lambda: Crop(h + 2 * pad + 1, padding=pad)(small))[0]
    # the loader applies its transform to the inputs only
    labels = rng.integers(0, 5, size=3)
    xb, yb = next(iter(ns["DataLoader"](ns["TensorDataset"](small, labels), batch_size=3,
                                        transform=ns["Compose"]([ns["Normalize"](1.0, 2.0), Crop((h, w))]))))
    out["loader_x"], out["loader_y"] = xb.data, yb.data
    return out


def module(ns, rng):
    from tinytorch.activations import ReLU
    from tinytorch.datasets import load_tinydigits
    from tinytorch.layers import Linear, Sequential
    from tinytorch.losses import CrossEntropyLoss
    from tinytorch.optimizers import SGD

    x_train, y_train, _, _ = load_tinydigits()
    picks = rng.choice(len(x_train), int(rng.integers(150, 250)), replace=False)
    x, y = x_train[picks], y_train[picks]
    size = int(rng.integers(20, 50))
    normalize = ns["Normalize"](float(rng.uniform(0.2, 0.4)), float(rng.uniform(0.3, 0.5)))
    # in order, and a crop with one position: every correct loader serves the same batches
    train = ns["DataLoader"](ns["TensorDataset"](x, y), batch_size=size,
                             transform=ns["Compose"]([ns["RandomCrop"](8, seed=0), normalize]))
    model = Sequential(Linear(64, 32), ReLU(), Linear(32, 10))
    for p in model.parameters():
        p.data[...] = rng.normal(size=p.shape) * 0.2
    # SGD, not Adam: Adam turns rounding-level differences in tiny gradients into steps of size lr
    loss_fn, opt = CrossEntropyLoss(), SGD(model.parameters(), lr=0.1)
    losses, seen = [], 0
    for _ in range(2):
        for xb, yb in train:
            seen += len(xb.data)
            loss = loss_fn(model(xb.reshape(len(xb.data), 64)), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    out = {"len": len(train), "seen": seen, "losses": np.array(losses)}
    # shuffled, with drop_last: which samples an epoch serves depends on the draw, how many does not
    shuffled = ns["DataLoader"](ns["TensorDataset"](x, y), batch_size=size, shuffle=True, drop_last=True,
                                seed=int(rng.integers(0, 2**31)), transform=normalize)
    out["drop_last_len"], out["drop_last_seen"] = len(shuffled), sum(len(b[1].data) for b in shuffled)
    everything = ns["DataLoader"](ns["TensorDataset"](x, y), batch_size=size, shuffle=True, transform=normalize,
                                  seed=int(rng.integers(0, 2**31)))
    correct = sum(int((model(xb.reshape(len(xb.data), 64)).data.argmax(axis=1) == yb.data).sum())
                  for xb, yb in everything)
    out["correct_over_an_epoch"] = correct
    return out


PROBES = {
    "test-dataset": ["dataset"],
    "test-batching": ["batching"],
    "test-shuffle": ["shuffle"],
    "test-generic": ["generic"],
    "test-normalize": ["normalize"],
    "test-flip": ["flip"],
    "test-crop": ["crop"],
    "test-module": ["module"],
}
