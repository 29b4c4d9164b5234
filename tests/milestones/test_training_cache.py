"""milestones/_common.py's training cache: with TINYTORCH_TRAINING_CACHE set, a model is trained
once per fingerprint and loaded after that (weights and generator state); unset, every call trains."""

import sys
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "milestones"))
sys.path.insert(0, str(ROOT))
_BLAS = [info["num_threads"] for info in threadpool_info() if info.get("user_api") == "blas"]
from _common import TRAINING_CACHE, train_or_reuse  # noqa: E402

from tinytorch.layers import Linear  # noqa: E402

if _BLAS:  # importing _common pinned NumPy's BLAS to 1 thread, for scripts; give this process its own back
    threadpool_limits(max(_BLAS), user_api="blas")


def _trainer(model, rng, calls):
    def train():
        calls.append(1)
        for p in model.parameters():
            p.data[...] = rng.normal(size=p.data.shape)  # "training": weights that depend on the generator
        return {"loss": [float(rng.normal())]}
    return train


def _run(settings, seed=0):
    model, rng, calls = Linear(3, 2), np.random.default_rng(seed), []
    history, reused = train_or_reuse(model, settings, rng, _trainer(model, rng, calls))
    return model, rng, history, reused, calls


def test_the_same_fingerprint_trains_once_then_loads(tmp_path, monkeypatch):
    monkeypatch.setenv(TRAINING_CACHE, str(tmp_path))
    first, rng1, history1, reused1, calls1 = _run({"config": 1})
    second, rng2, history2, reused2, calls2 = _run({"config": 1}, seed=99)  # another start: overwritten
    assert (calls1, reused1) == ([1], None) and calls2 == [] and reused2
    assert history2 == history1
    for a, b in zip(first.parameters(), second.parameters()):
        assert np.array_equal(a.data, b.data)
    assert rng2.bit_generator.state == rng1.bit_generator.state  # later draws match too


def test_other_settings_train_again(tmp_path, monkeypatch):
    monkeypatch.setenv(TRAINING_CACHE, str(tmp_path))
    _run({"config": 1})
    *_, reused, calls = _run({"config": 2})
    assert reused is None and calls == [1]


def test_without_the_variable_every_run_trains(monkeypatch):
    monkeypatch.delenv(TRAINING_CACHE, raising=False)
    for _ in range(2):
        *_, reused, calls = _run({"config": 1})
        assert reused is None and calls == [1]
