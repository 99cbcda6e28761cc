"""Symmetric linear algebra where the samples are: Gram products and leading eigenpairs.

Each function runs on its tensor's device. On the CPU the Gram products use BLAS
``dsyrk``, which computes one triangle of a symmetric product in half the operations of
a general matrix product, and the eigensolvers LAPACK's subset drivers, which find only
the wanted eigenpairs; on a GPU torch's own kernels run, which are fast there.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import torch
from scipy.linalg import blas

__all__ = ["add_grams", "gram", "symmetric", "top_eigh", "top_eigvalsh"]


def _on_host(matrix: torch.Tensor, host: bool | None) -> bool:
    return matrix.device.type == "cpu" if host is None else host


def _syrk_into(target: np.ndarray, a: torch.Tensor) -> None:
    """Lower triangle of C-ordered float64 ``target [p, p]`` += ``a^T a``, ``a [n, p]``."""
    rows = a if a.is_contiguous() or a.T.is_contiguous() else a.contiguous()
    rows = rows.numpy()
    # BLAS reads Fortran order: pass whichever of rows and rows.T is laid out so, and
    # target as its transpose, whose upper triangle is our lower one
    c = target.T
    if rows.flags.f_contiguous:
        got = blas.dsyrk(1.0, rows, beta=1.0, c=c, trans=1, overwrite_c=1)
    else:
        got = blas.dsyrk(1.0, rows.T, beta=1.0, c=c, trans=0, overwrite_c=1)
    if not np.shares_memory(got, c):  # the wrapper had to copy
        c[...] = got


def _host_float64(*tensors: torch.Tensor) -> bool:
    return all(t.device.type == "cpu" and t.dtype == torch.float64 for t in tensors)


def add_grams(out: torch.Tensor, a: torch.Tensor) -> None:
    """``out[u] += a[u]^T a[u]`` for ``a [batch, n, p]``, ``out [batch, p, p]``.

    On the CPU, in float64, only the lower triangle of each ``out[u]`` is updated: read
    the sums through :func:`symmetric`.
    """
    if _host_float64(out, a) and out.is_contiguous():
        for u in range(len(a)):
            _syrk_into(out[u].numpy(), a[u])
        return
    out.baddbmm_(a.transpose(1, 2), a)


def symmetric(matrix: torch.Tensor) -> torch.Tensor:
    """The symmetric matrix (or batch) whose lower triangle ``matrix`` holds."""
    if matrix.device.type == "cpu":  # numpy: no thread pool to wake for a small matrix
        m = matrix.numpy()
        return torch.from_numpy(np.tril(m) + np.tril(m, -1).swapaxes(-1, -2))
    return torch.tril(matrix) + torch.tril(matrix, -1).transpose(-1, -2)


def gram(a: torch.Tensor) -> torch.Tensor:
    """``a^T a`` for ``a [n, p]``: a full symmetric ``[p, p]`` matrix."""
    if _host_float64(a):
        out = np.zeros((a.shape[1], a.shape[1]))
        _syrk_into(out, a)
        return symmetric(torch.from_numpy(out))
    return a.T @ a


def top_eigvalsh(matrix: torch.Tensor, top: int, host: bool | None = None) -> torch.Tensor:
    """The ``top`` largest eigenvalues of symmetric ``matrix``, largest first, as a tensor
    on ``matrix``'s device (a device solve does not wait for the host).

    ``host`` (default: whether ``matrix`` is on the CPU) chooses LAPACK's subset driver;
    otherwise torch's solver runs on the matrix's device.
    """
    if _on_host(matrix, host):
        n = len(matrix)
        ev = scipy.linalg.eigvalsh(matrix.cpu().numpy(), subset_by_index=[n - top, n - 1])
        return torch.from_numpy(ev[::-1].copy()).to(matrix.device)
    return torch.linalg.eigvalsh(matrix).flip(-1)[..., :top]


def top_eigh(matrix: torch.Tensor, top: int,
             host: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The ``top`` largest eigenvalues of symmetric ``matrix`` and their eigenvectors
    (columns), largest first; ``host`` as in :func:`top_eigvalsh`."""
    if _on_host(matrix, host):
        n = len(matrix)
        val, vec = scipy.linalg.eigh(matrix.cpu().numpy(), subset_by_index=[n - top, n - 1])
    else:
        val, vec = (t[..., -top:].cpu().numpy() for t in torch.linalg.eigh(matrix))
    return val[::-1].copy(), vec[:, ::-1].copy()
