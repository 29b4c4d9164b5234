"""Module 11: Embedding forward and backward against PyTorch (when installed)."""

import numpy as np
import pytest

from tinytorch.embeddings import Embedding, embedding
from tinytorch.tensor import Tensor
from tinytorch.testing import raises

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("num_rows,dim,shape", [(76, 16, (4, 32)), (10, 3, (50,)), (1000, 8, (2, 3, 7)),
                                                (3, 5, (1,))])
def test_embedding_forward_and_backward_match_torch(num_rows, dim, shape):
    rng = np.random.default_rng(0)
    table = rng.normal(size=(num_rows, dim)).astype(np.float32)
    ids = rng.integers(0, num_rows, size=shape)
    w, tw = Tensor(table, requires_grad=True), torch.tensor(table, requires_grad=True)
    out, tout = embedding(ids, w), torch.nn.functional.embedding(torch.from_numpy(ids), tw)
    assert out.shape == tuple(tout.shape)
    assert np.array_equal(out.data, tout.detach().numpy())
    g = rng.normal(size=out.shape).astype(np.float32)
    out.backward(g)
    tout.backward(torch.from_numpy(g))
    assert np.allclose(w.grad.data, tw.grad.numpy(), atol=1e-5)


def test_layer_matches_nn_embedding_with_the_same_weights():
    ours = Embedding(20, 6, rng=0)
    theirs = torch.nn.Embedding(20, 6)
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(ours.weight.data))
    ids = np.array([[1, 1, 19], [0, 1, 5]])
    out, tout = ours(ids), theirs(torch.from_numpy(ids))
    assert np.array_equal(out.data, tout.detach().numpy())
    g = np.random.default_rng(1).normal(size=out.shape).astype(np.float32)
    out.backward(g)
    tout.backward(torch.from_numpy(g))
    assert np.allclose(ours.weight.grad.data, theirs.weight.grad.numpy(), atol=1e-5)


def test_out_of_range_fails_in_both():
    with pytest.raises(IndexError):
        torch.nn.functional.embedding(torch.tensor([5]), torch.zeros(5, 2))
    raises(IndexError, lambda: embedding([5], Tensor(np.zeros((5, 2)))), "token id 5")


@pytest.mark.parametrize("offset", [0, 3])
def test_token_plus_learned_positions_match_torch(offset):
    # GPT's input: tok_emb(ids) + pos_emb(arange(offset, offset + T)), forward and backward
    from tinytorch.embeddings import LearnedPositionalEmbedding
    rng = np.random.default_rng(2)
    tok, pos = Embedding(11, 4, rng=0), LearnedPositionalEmbedding(9, 4, rng=1)
    ttok, tpos = torch.nn.Embedding(11, 4), torch.nn.Embedding(9, 4)
    with torch.no_grad():
        ttok.weight.copy_(torch.from_numpy(tok.weight.data))
        tpos.weight.copy_(torch.from_numpy(pos.weight.data))
    ids = rng.integers(0, 11, size=(3, 5))
    out = pos(tok(ids), offset=offset)
    tout = ttok(torch.from_numpy(ids)) + tpos(torch.arange(offset, offset + 5))
    assert np.allclose(out.data, tout.detach().numpy(), atol=1e-6)
    g = rng.normal(size=out.shape).astype(np.float32)
    out.backward(g)
    tout.backward(torch.from_numpy(g))
    assert np.allclose(tok.weight.grad.data, ttok.weight.grad.numpy(), atol=1e-5)
    assert np.allclose(pos.weight.grad.data, tpos.weight.grad.numpy(), atol=1e-5)
