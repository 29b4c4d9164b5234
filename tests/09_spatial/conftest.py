"""Plain-loop references for module 09's tests: slow, obvious, independent of the package.

Tests get them through the session fixture `ref` (pytest runs with --import-mode=importlib, so
test files cannot import a sibling helper module).
"""

from types import SimpleNamespace

import numpy as np
import pytest


def conv2d_loops(x, w, b=None, stride=(1, 1), padding=(0, 0)):
    """out[n, o, i, j] = b[o] + sum over (c, di, dj) of x_pad[n, c, i*sh + di, j*sw + dj] *
    w[o, c, di, dj], one window at a time."""
    (sh, sw), (ph, pw) = stride, padding
    xp = np.pad(np.asarray(x, np.float64), ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    n, c, hp, wp = xp.shape
    o, _, kh, kw = w.shape
    oh, ow = (hp - kh) // sh + 1, (wp - kw) // sw + 1
    out = np.zeros((n, o, oh, ow))
    for image in range(n):
        for channel in range(o):
            for i in range(oh):
                for j in range(ow):
                    window = xp[image, :, i * sh:i * sh + kh, j * sw:j * sw + kw]  # (C, kh, kw)
                    offset = 0.0 if b is None else float(b[channel])
                    out[image, channel, i, j] = offset + float(np.sum(window * w[channel]))
    return out


def pool_loops(x, kernel, stride):
    """(max, mean, grad of sum(max * g) routed to the first maximum) for every window."""
    (kh, kw), (sh, sw) = kernel, stride
    n, c, h, w = x.shape
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    mx, avg = np.zeros((n, c, oh, ow)), np.zeros((n, c, oh, ow))
    arg = np.zeros((n, c, oh, ow, 2), dtype=int)
    for b in range(n):
        for ch in range(c):
            for i in range(oh):
                for j in range(ow):
                    win = x[b, ch, i * sh:i * sh + kh, j * sw:j * sw + kw]
                    mx[b, ch, i, j], avg[b, ch, i, j] = win.max(), win.mean()
                    r, q = divmod(int(np.argmax(win)), kw)  # first maximum, row-major
                    arg[b, ch, i, j] = (i * sh + r, j * sw + q)
    return mx, avg, arg


def route(arg, g, shape):
    """Gradient of sum(max_pool(x) * g) with respect to x, from the winners' positions."""
    grad = np.zeros(shape)
    n, c, oh, ow = g.shape
    for b in range(n):
        for ch in range(c):
            for i in range(oh):
                for j in range(ow):
                    r, q = arg[b, ch, i, j]
                    grad[b, ch, r, q] += g[b, ch, i, j]
    return grad


@pytest.fixture(scope="session")
def ref():
    return SimpleNamespace(conv2d=conv2d_loops, pool=pool_loops, route=route)
