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


def add_grams(out: torch.Tensor, a: torch.Tensor) -> None:
    """``out[u] += a[u]^T a[u]`` for ``a [batch, n, p]``, ``out [batch, p, p]``.

    On the CPU, in float64, only the lower triangle of each ``out[u]`` is updated: read
    the sums through :func:`symmetric`.
    """
    if out.device.type == "cpu" and out.dtype == a.dtype == torch.float64 and out.is_contiguous():
        for u in range(len(a)):
            rows = a[u] if a[u].is_contiguous() or a[u].T.is_contiguous() else a[u].contiguous()
            rows = rows.numpy()
            # BLAS reads Fortran order: pass whichever of rows and rows.T is laid out so, and
            # out[u] as its transpose, whose upper triangle is our lower one
            target = out[u].numpy().T
            if rows.flags.f_contiguous:
                got = blas.dsyrk(1.0, rows, beta=1.0, c=target, trans=1, overwrite_c=1)
            else:
                got = blas.dsyrk(1.0, rows.T, beta=1.0, c=target, trans=0, overwrite_c=1)
            if not np.shares_memory(got, target):  # the wrapper had to copy
                target[...] = got
        return
    out.baddbmm_(a.transpose(1, 2), a)


def symmetric(matrix: torch.Tensor) -> torch.Tensor:
    """The symmetric matrix (or batch) whose lower triangle ``matrix`` holds."""
    return torch.tril(matrix) + torch.tril(matrix, -1).transpose(-1, -2)


def gram(a: torch.Tensor) -> torch.Tensor:
    """``a^T a`` for ``a [n, p]``: a full symmetric ``[p, p]`` matrix."""
    out = torch.zeros((a.shape[1], a.shape[1]), dtype=a.dtype, device=a.device)
    add_grams(out[None], a[None])
    return symmetric(out)


def top_eigvalsh(matrix: torch.Tensor, top: int, host: bool | None = None) -> np.ndarray:
    """The ``top`` largest eigenvalues of symmetric ``matrix``, largest first.

    ``host`` (default: whether ``matrix`` is on the CPU) chooses LAPACK's subset driver;
    otherwise torch's solver runs on the matrix's device.
    """
    if _on_host(matrix, host):
        n = len(matrix)
        ev = scipy.linalg.eigvalsh(matrix.cpu().numpy(), subset_by_index=[n - top, n - 1])
        return ev[::-1].copy()
    return torch.linalg.eigvalsh(matrix).flip(0)[:top].cpu().numpy()


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
