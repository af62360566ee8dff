"""Arithmetic whose bits do not depend on the CPU, for everything a corpus stores (labels, specs) and
everything its images are made from.

A corpus must be the same bytes on any host (docs/design.md, "Random streams"). numpy hands matrix
products, inverses and least squares to BLAS and LAPACK, whose kernels are picked for the CPU when the
library loads and round differently from one CPU to another (OpenBLAS' Haswell kernels against the
ones it picks on an AVX-512 machine differ in the last bits); numpy's own exp, log, arctan2 and arccos
take SIMD loops on AVX-512 that differ from libm's for a quarter of the arguments. What is here uses
only numpy's element-wise +, -, *, / and sqrt (correctly rounded on every CPU) in a fixed order, or
the math module (libm). tests/test_host.py, test_flame.py and test_exact.py compute as an AVX2 host would
(tests/cpu.py) and compare the bytes.
"""

from __future__ import annotations

import math

import numpy as np


def mm(a, b) -> np.ndarray:
    """a @ b (numpy's shapes and broadcasting; a vector on either side) summed term by term in a fixed
    order by numpy's element-wise multiply and add, so the same bits on every host. numpy's @ hands
    float arrays to BLAS, whose kernel (picked for the CPU when it loads) rounds differently from one
    CPU to another in the last bits: a corpus' labels must not depend on the machine that rendered
    them."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError("mm: scalar operands (use *)")
    if b.ndim == 1:
        return mm(a, b[:, None])[..., 0]
    if a.ndim == 1:
        return mm(a[None, :], b)[..., 0, :]
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(f"mm: shapes {a.shape} and {b.shape} do not fit (inner dimensions {a.shape[-1]} and {b.shape[-2]})")
    if a.shape[-1] == 0:  # an empty sum
        return np.zeros(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + (a.shape[-2], b.shape[-1]))
    out = a[..., :, :1] * b[..., :1, :]
    for k in range(1, a.shape[-1]):
        out = out + a[..., :, k:k + 1] * b[..., k:k + 1, :]
    return out


def rigid_inverse(T) -> np.ndarray:
    """The inverse of a 4x4 rigid transform [R t; 0 1]: [R^T -R^T t; 0 1] (LAPACK's general inverse
    rounds by the CPU's kernels)."""
    T = np.asarray(T, float)
    out = np.eye(4)
    out[:3, :3] = T[:3, :3].T
    out[:3, 3] = -mm(T[:3, :3].T, T[:3, 3])
    return out


def orthonormalised(M) -> np.ndarray:
    """The rotation nearest a 3x3 matrix off one by float64 round-off, by scipy's own arithmetic (a quaternion
    fit), not LAPACK's SVD, whose bits depend on the CPU. Only that close: measured against an AVX2 host
    (tests/test_exact.py), matrices 1e-15 off a rotation give the same bits, 1e-12 off already other ones
    (scipy orthonormalises them another way first). The head models' skinning products are the first kind."""
    from scipy.spatial.transform import Rotation

    return Rotation.from_matrix(np.asarray(M, float)).as_matrix()


def lstsq(E, X) -> np.ndarray:
    """The least-squares A of E @ A = X (E (n, k) of full column rank, k small; X (n, m)), from the normal
    equations (E^T E) A = E^T X solved by Gaussian elimination with partial pivoting. Well-conditioned
    fits only: the normal equations square the condition number."""
    E, X = np.asarray(E, float), np.asarray(X, float)
    return solve(mm(E.T, E), mm(E.T, X))


def solve(A, B) -> np.ndarray:
    """x of A @ x = B for a small square A (k, k) and B (k,) or (k, m): Gaussian elimination with partial
    pivoting, row by row. ValueError when A is singular."""
    A, B = np.array(A, float), np.array(B, float)
    vector = B.ndim == 1
    B = B[:, None] if vector else B
    k = len(A)
    for c in range(k):
        p = c + int(np.argmax(np.abs(A[c:, c])))
        if A[p, c] == 0.0:
            raise ValueError("singular matrix")
        A[[c, p]], B[[c, p]] = A[[p, c]], B[[p, c]]
        for r in range(c + 1, k):
            f = A[r, c] / A[c, c]
            A[r, c:] = A[r, c:] - f * A[c, c:]
            B[r] = B[r] - f * B[c]
    x = np.zeros_like(B)
    for r in range(k - 1, -1, -1):
        s = B[r]
        for j in range(r + 1, k):
            s = s - A[r, j] * x[j]
        x[r] = s / A[r, r]
    return x[:, 0] if vector else x


def _libm(f, *args):
    """The math function f element by element (broadcast), in the inputs' float dtype: libm's bits."""
    args = tuple(a if np.isscalar(a) else np.asarray(a) for a in args)
    out = np.frompyfunc(f, len(args), 1)(*args)
    if not isinstance(out, np.ndarray):
        return float(out)
    dtype = np.result_type(*args)
    return out.astype(dtype if np.issubdtype(dtype, np.floating) else np.float64)


def exp(x):
    """e ** x by libm (numpy's exp takes an AVX-512 loop of its own)."""
    return _libm(math.exp, x)


def power(x, p):
    """x ** p by libm, for x >= 0 (numpy's ** takes an AVX-512 loop for exponents other than 2 and 0.5)."""
    return _libm(math.pow, x, p)


def arctan2(y, x):
    """The angle of (x, y) in radians by libm (numpy's arctan2 takes an AVX-512 loop)."""
    return _libm(math.atan2, y, x)


def norm(v) -> float:
    """The Euclidean length of a vector, its squares summed in order (numpy's norm of a vector is BLAS' dot)."""
    return math.sqrt(sum(float(x) * float(x) for x in np.asarray(v, float).ravel()))
