"""Module 13: the GPT — structure, initialization, causality, errors, parameter count, training
objective, and a whole model against PyTorch forward and backward."""

import numpy as np
import pytest

from tinytorch.losses import CrossEntropyLoss
from tinytorch.optimizers import AdamW
from tinytorch.tensor import Tensor
from tinytorch.testing import close, raises
from tinytorch.transformers import GPT, LayerNorm, TransformerBlock, gpt_parameter_count, lm_batch


def test_structure_and_names():
    model = GPT(13, 16, 3, 4, 10, rng=0)
    assert model.token_embedding.weight.shape == (13, 16)
    assert model.position_embedding.weight.shape == (10, 16)
    assert len(model.blocks) == 3 and all(isinstance(b, TransformerBlock) for b in model.blocks)
    assert isinstance(model.ln_f, LayerNorm) and model.head.weight.shape == (16, 13)
    names = [n for n, _ in model.named_parameters()]
    assert names[0] == "token_embedding.weight" and names[-1] == "head.bias"
    assert "blocks.2.attn.out_proj.weight" in names and "blocks.0.mlp.fc2.bias" in names
    assert "vocab_size=13" in repr(model)


def test_gpt2_initialization():
    model = GPT(50, 64, 8, 4, 32, rng=0)
    p = dict(model.named_parameters())
    for name in ("token_embedding.weight", "position_embedding.weight", "blocks.3.attn.q_proj.weight",
                 "blocks.0.mlp.fc1.weight", "head.weight"):
        assert abs(p[name].data.std() - 0.02) < 0.003, f"{name}: std {p[name].data.std():.4f}, expected 0.02"
    for name in ("blocks.1.attn.out_proj.weight", "blocks.7.mlp.fc2.weight"):
        want = 0.02 / np.sqrt(16)
        std = p[name].data.std()
        assert abs(std - want) < want * 0.15, f"{name}: std {std:.5f}, expected {want:.5f}"
    for name in ("blocks.0.attn.q_proj.bias", "blocks.2.mlp.fc1.bias", "head.bias", "ln_f.bias"):
        assert not p[name].data.any(), f"{name} starts at zero"
    for name in ("blocks.0.ln1.weight", "ln_f.weight"):
        assert np.all(p[name].data == 1), f"{name} starts at one"


def test_seeds():
    a, b, c = GPT(7, 8, 1, 2, 4, rng=5), GPT(7, 8, 1, 2, 4, rng=5), GPT(7, 8, 1, 2, 4, rng=6)
    assert all(np.array_equal(p.data, q.data) for p, q in zip(a.parameters(), b.parameters()))
    assert not np.array_equal(a.head.weight.data, c.head.weight.data)


@pytest.mark.parametrize("config", [(11, 16, 2, 2, 8), (65, 32, 3, 4, 64), (3, 4, 1, 1, 1),
                                    (100, 24, 2, 6, 20)])
def test_parameter_count_matches_the_model(config):
    vocab, dim, layers, _, seq = config
    actual = sum(p.size for p in GPT(*config, rng=0).parameters())
    got = gpt_parameter_count(vocab, dim, layers, seq)
    off = got - actual
    sizes = ((dim, f"D = {dim}"), (vocab, f"V = {vocab}"), (seq, f"S = {seq}"))
    parts = [f"{off // n} x {what}" for n, what in sizes if off and off % n == 0]
    assert got == actual, (f"gpt_parameter_count{(vocab, dim, layers, seq)} = {got}, the model has {actual}: "
                           f"off by {off}" + (f" (= {' or '.join(parts)}: which part?)" if parts else ""))


def test_parameter_count_of_the_nanogpt_cpu_configuration():
    assert gpt_parameter_count(65, 128, 4, 64) == 818_241


def test_ids_accepted_in_every_form():
    model = GPT(9, 8, 1, 2, 6, rng=1)
    ids = np.array([[1, 2, 3], [4, 5, 8]])
    want = model(ids).data
    for form in (ids.tolist(), ids.astype(np.int32), ids.astype(np.float32), Tensor(ids)):
        close(model(form), want, what=f"ids given as {type(form).__name__}")


def test_errors_name_the_problem():
    model = GPT(9, 8, 1, 2, 6, rng=1)
    raises(ValueError, lambda: model(np.zeros((1, 7), int)), "T = 7", "max_seq_len = 6")
    raises(ValueError, lambda: model(np.zeros(3, int)), "(B, T)", "ids[None]")
    raises(ValueError, lambda: model(np.zeros((2, 0), int)), "T >= 1")
    raises(ValueError, lambda: model(np.zeros((1, 2, 3), int)), "(B, T)")
    raises(IndexError, lambda: model([[0, 9]]), "9")
    raises(IndexError, lambda: model([[-1, 0]]), "-1")
    raises(ValueError, lambda: model([[0.5, 1]]), "whole")
    raises(ValueError, lambda: GPT(9, 10, 1, 4, 6), "divisible")
    raises(ValueError, lambda: GPT(0, 8, 1, 2, 6), "vocab_size")
    raises(ValueError, lambda: GPT(9, 8, 0, 2, 6), "num_layers")


def test_causal_for_every_position():
    rng = np.random.default_rng(2)
    model = GPT(10, 16, 2, 4, 8, rng=2)
    for p in model.parameters():
        p.data[...] += rng.normal(size=p.shape) * 0.3
    ids = rng.integers(0, 10, size=(2, 8))
    base = model(ids).data
    for t in range(8):
        changed = ids.copy()
        changed[:, t] = (changed[:, t] + 3) % 10
        out = model(changed).data
        close(out[:, :t], base[:, :t], atol=1e-5,
              what=f"causal: logits before position {t} ignore token {t} (every block gets the causal mask?)")
        assert not np.allclose(out[:, t], base[:, t]), f"position {t}'s logits must depend on token {t}"


def test_lm_batch_uniform_starts_and_errors():
    data = np.arange(50)
    x, y = lm_batch(data, 20000, 9, rng=0)
    assert x.shape == y.shape == (20000, 9), f"(batch, context) = (20000, 9) each: x {x.shape}, y {y.shape}"
    counts = np.bincount(x[:, 0], minlength=41)
    assert counts.shape == (41,) and counts.min() > 350, \
        f"every start 0..40 is drawn, about uniformly: got starts {x[:, 0].min()}..{x[:, 0].max()}"
    assert np.array_equal(y[:, :-1], x[:, 1:]) and np.array_equal(y[:, -1], x[:, -1] + 1)
    raises(ValueError, lambda: lm_batch(np.arange(9), 2, 9), "too few")
    raises(ValueError, lambda: lm_batch(np.zeros((3, 4), int), 2, 2), "1-D")
    raises(ValueError, lambda: lm_batch(np.linspace(0, 1, 20), 2, 2), "token ids")
    raises(ValueError, lambda: lm_batch(np.arange(20), 0, 2), "batch_size")


def test_whole_gpt_forward_backward_and_loss_match_torch(torch_ref):
    torch = torch_ref.torch
    rng = np.random.default_rng(3)
    model = GPT(17, 16, 2, 4, 12, rng=3)
    for p in model.parameters():  # away from the initialization, so that every path carries signal
        p.data[...] += rng.normal(size=p.shape) * 0.2
    ids, targets = rng.integers(0, 17, size=(3, 10)), rng.integers(0, 17, size=(3, 10))
    logits = model(ids)
    loss = CrossEntropyLoss()(logits, targets)
    params = torch_ref.params(model)
    tlogits = torch_ref.gpt(ids, params, 2, 4)
    tloss = torch.nn.functional.cross_entropy(tlogits.reshape(-1, 17), torch.from_numpy(targets.reshape(-1)))
    close(logits, tlogits.detach().numpy(), atol=2e-4, what="GPT logits vs torch")
    close(loss.item(), tloss.item(), atol=1e-5, what="loss vs torch")
    loss.backward()
    tloss.backward()
    for name, p in model.named_parameters():
        close(p.grad, params[name].grad.numpy(), atol=2e-5, rtol=1e-3, what=f"grad of {name} vs torch")


def test_training_steps_match_torch_adamw(torch_ref):
    torch = torch_ref.torch
    rng = np.random.default_rng(4)
    model = GPT(11, 16, 2, 2, 8, rng=4)
    params = torch_ref.params(model)
    opt = AdamW(model.parameters(), lr=3e-3, weight_decay=0.1)
    topt = torch.optim.AdamW(list(params.values()), lr=3e-3, weight_decay=0.1)
    for _ in range(4):
        ids, targets = rng.integers(0, 11, size=(4, 8)), rng.integers(0, 11, size=(4, 8))
        loss = CrossEntropyLoss()(model(ids), targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
        tloss = torch.nn.functional.cross_entropy(torch_ref.gpt(ids, params, 2, 2).reshape(-1, 11),
                                                  torch.from_numpy(targets.reshape(-1)))
        topt.zero_grad()
        tloss.backward()
        topt.step()
        close(loss.item(), tloss.item(), atol=1e-5, what="loss at each step")
    for name, p in model.named_parameters():
        close(p, params[name].detach().numpy(), atol=1e-5, what=f"{name} after 4 AdamW steps")


def test_overfits_a_short_string():
    text = "hello world, hello transformer."
    chars = sorted(set(text))
    data = np.array([chars.index(c) for c in text])
    model = GPT(len(chars), 16, 2, 2, 12, rng=0)
    opt, loss_fn = AdamW(model.parameters(), lr=2e-2, weight_decay=0.0), CrossEntropyLoss()
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(120):
        x, y = lm_batch(data, 16, 12, rng)
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert abs(losses[0] - np.log(len(chars))) < 0.2
    assert np.mean(losses[-10:]) < 0.3 * losses[0], f"{losses[0]:.2f} -> {np.mean(losses[-10:]):.3f}"


def _randomized_gpt(seed):
    rng = np.random.default_rng(seed)
    model = GPT(9, 8, 2, 2, 6, rng=seed)
    for p in model.parameters():
        p.data[...] += rng.normal(size=p.shape) * 0.4
    return model, rng


def test_gpt_passes_values_from_part_to_part(spy):
    """Each part reads what the previous one wrote, every block gets the causal mask (no PyTorch needed)."""
    from tinytorch.attention import causal_mask
    model, rng = _randomized_gpt(7)
    ids = rng.integers(0, 9, size=(2, 5))
    plain = model(ids).data
    seen = []
    for name in ("token_embedding", "position_embedding", "ln_f", "head"):
        setattr(model, name, spy(name, getattr(model, name), seen))
    model.blocks = [spy(f"block {i}", b, seen) for i, b in enumerate(model.blocks)]
    got = model(ids).data
    flow = {name: (v_in, mask, v_out) for name, v_in, mask, v_out in seen}
    order = [name for name, *_ in seen if name.startswith("block")]
    assert order == ["block 0", "block 1"], f"every block runs once, in order: the blocks ran as {order}"
    positions = model.position_embedding.weight.data[:5]
    close(flow["block 0"][0], flow["token_embedding"][2] + positions, atol=1e-5,
          what="block 0 reads the token vectors plus the position vectors of positions 0..4")
    for i in range(2):
        mask = flow[f"block {i}"][1]
        assert mask is not None and np.array_equal(np.asarray(mask), causal_mask(5)), \
            f"block {i} gets the causal mask causal_mask(5), got " \
            f"{mask if mask is None else np.asarray(mask).shape}"
    close(flow["block 1"][0], flow["block 0"][2], atol=1e-6, what="block 1 reads block 0's output")
    assert "ln_f" in flow and "head" in flow, \
        f"ln_f and the head each run once: parts called {[n for n, *_ in seen]}"
    close(flow["ln_f"][0], flow["block 1"][2], atol=1e-6, what="ln_f normalizes the last block's output")
    close(flow["head"][0], flow["ln_f"][2], atol=1e-6, what="the head reads ln_f's output")
    close(got, flow["head"][2], atol=1e-6, what="the logits are the head's output")
    close(got, plain, atol=1e-6, what="the same logits with and without the recorders")


def test_a_repeated_token_gives_different_logits_at_different_positions():
    # without positions, a causal model sees the same set of identical vectors at every position
    model, _ = _randomized_gpt(8)
    logits = model(np.full((1, 6), 4)).data[0]
    assert not np.allclose(logits[0], logits[1], atol=1e-4), \
        "position 0 and 1 agree: are the positions added?"
    out = model(np.full((1, 4), 4))
    out.sum().backward()
    used = np.abs(model.position_embedding.weight.grad.data).sum(axis=1)
    assert np.all(used[:4] > 0) and np.all(used[4:] == 0), \
        f"rows 0..3 of the position table get gradients, the rest none: {used}"


def test_every_parameter_of_the_gpt_gets_a_gradient():
    model, rng = _randomized_gpt(9)
    ids = rng.integers(0, 9, size=(2, 6))
    CrossEntropyLoss()(model(ids), rng.integers(0, 9, size=(2, 6))).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and np.abs(p.grad.data).max() > 0, f"{name} gets no gradient: is it used?"
