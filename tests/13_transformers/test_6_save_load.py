"""Module 13: save_model / load_model — round trip, extras, atomic write, clear errors."""

import numpy as np

from tinytorch.testing import raises
from tinytorch.transformers import GPT, load_model, save_model


def _model(seed=0, **kw):
    config = dict(vocab_size=10, embed_dim=8, num_layers=2, num_heads=2, max_seq_len=6) | kw
    return GPT(**config, rng=seed)


def test_round_trip_gives_identical_outputs(tmp_path):
    model, other = _model(0), _model(1)
    ids = np.array([[1, 2, 3, 4]])
    path = tmp_path / "sub" / "model.npz"
    save_model(model, path, vocab=10, note=np.arange(3))
    extra = load_model(other, path)
    assert extra["vocab"] == 10 and extra["note"].tolist() == [0, 1, 2]
    assert np.array_equal(other(ids).data, model(ids).data)
    assert [p.name for p in tmp_path.joinpath("sub").iterdir()] == ["model.npz"], "no temporary file left"


def test_overwrite_replaces_the_file(tmp_path):
    path = tmp_path / "m.npz"
    save_model(_model(0), path)
    save_model(_model(2), path)
    loaded = _model(5)
    load_model(loaded, path)
    assert np.array_equal(loaded.head.weight.data, _model(2).head.weight.data)


def test_missing_file(tmp_path):
    raises(FileNotFoundError, lambda: load_model(_model(), tmp_path / "nope.npz"), "nope.npz")


def test_not_an_archive(tmp_path):
    path = tmp_path / "text.npz"
    path.write_text("hello")
    raises(ValueError, lambda: load_model(_model(), path), "not a TinyTorch model file")


def test_truncated_file(tmp_path):
    path = tmp_path / "m.npz"
    save_model(_model(), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] + data[-200:])  # keeps a zip directory, loses members
    model = _model(3)
    before = {k: v.copy() for k, v in model.state_dict().items()}
    raises(ValueError, lambda: load_model(model, path), str(path))
    assert all(np.array_equal(before[k], v) for k, v in model.state_dict().items()), "model unchanged"


def test_other_configuration_names_the_parameter_and_changes_nothing(tmp_path):
    path = tmp_path / "m.npz"
    save_model(_model(embed_dim=12, num_heads=3), path)
    model = _model(4)
    before = model.head.weight.data.copy()
    raises(ValueError, lambda: load_model(model, path), "does not fit", "token_embedding.weight")
    assert np.array_equal(model.head.weight.data, before)
    raises(ValueError, lambda: load_model(_model(num_layers=1), path), "does not fit")
