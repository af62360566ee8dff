"""relhead.exact: matrix products, small solves and libm's functions that give the same bits on every CPU.
Behaviour against numpy's own (within rounding) and the same bits in a process computing as an AVX2 host
does (cpu.py), where numpy's versions differ."""

import math
import subprocess
import sys

import numpy as np
import pytest

from cpu import avx2_host_env, needs_avx512
from relhead import exact

SHAPES = [((3, 3), (3, 3)), ((500, 3), (3, 3)), ((3, 3), (3,)), ((3,), (3, 3)), ((7, 3, 3), (7, 3, 3)),
          ((7, 3, 3), (3, 3)), ((4, 300), (300, 4)), ((2, 5), (5, 1)), ((7, 3, 3), (3,)), ((3,), (7, 3, 3)),
          ((3,), (3,)), ((4, 0), (0,)), ((2, 0), (0, 3))]


@pytest.mark.parametrize("sa,sb", SHAPES)
def test_mm_is_numpys_product_within_rounding(sa, sb):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=sa), rng.normal(size=sb)
    got = exact.mm(a, b)
    assert got.shape == (a @ b).shape and np.allclose(got, a @ b, rtol=1e-13, atol=1e-13)


def test_mm_refuses_shapes_that_do_not_fit():
    with pytest.raises(ValueError, match="do not fit"):
        exact.mm(np.ones((2, 2)), np.ones((3, 2)))
    with pytest.raises(ValueError, match="do not fit"):
        exact.mm(np.ones((1, 4)), np.ones((3, 2)))


def test_rigid_inverse_lstsq_and_solve():
    rng = np.random.default_rng(1)
    T = np.eye(4)
    T[:3, :3] = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    T[:3, 3] = rng.normal(size=3)
    assert np.allclose(exact.rigid_inverse(T) @ T, np.eye(4), atol=1e-14)
    E, X = rng.normal(size=(200, 4)), rng.normal(size=(200, 3))
    assert np.allclose(exact.lstsq(E, X), np.linalg.lstsq(E, X, rcond=None)[0], atol=1e-13)
    A, b = rng.normal(size=(4, 4)), rng.normal(size=4)
    assert np.allclose(exact.solve(A, b), np.linalg.solve(A, b), atol=1e-12)
    with pytest.raises(ValueError, match="singular"):
        exact.solve(np.ones((3, 3)), np.ones(3))


def test_the_libm_functions_are_maths_bit_for_bit_and_keep_the_dtype():
    x = np.linspace(-3.0, 3.0, 101)
    assert exact.exp(x).tobytes() == np.array([math.exp(v) for v in x]).tobytes()
    assert exact.power(np.abs(x), 0.8).tobytes() == np.array([math.pow(abs(v), 0.8) for v in x]).tobytes()
    assert exact.arctan2(x, x[::-1]).tobytes() == np.array([math.atan2(a, b) for a, b in zip(x, x[::-1])]).tobytes()
    assert exact.exp(x.astype(np.float32)).dtype == np.float32 and isinstance(exact.exp(1.0), float)
    assert exact.power([0.25, 4.0], 0.5).tolist() == [0.5, 2.0]
    assert exact.norm([3.0, 4.0]) == 5.0


def test_orthonormalised_takes_a_rotation_off_by_round_off_to_the_nearest_rotation():
    from scipy.spatial.transform import Rotation

    R = Rotation.from_rotvec([0.3, -0.2, 0.9]).as_matrix()
    M = R + 1e-15 * np.random.default_rng(0).normal(size=(3, 3))
    Q = exact.orthonormalised(M)
    assert np.abs(Q @ Q.T - np.eye(3)).max() < 1e-15 and np.linalg.det(Q) > 0
    assert np.abs(Q - R).max() < 1e-14


DIGEST = """
import hashlib, numpy as np
from scipy.spatial.transform import Rotation
from relhead import exact
rng = np.random.default_rng(2)
M, R, E, X = rng.normal(size=(5000, 3)), rng.normal(size=(3, 3)), rng.normal(size=(300, 4)), rng.normal(size=(300, 3))
y = rng.uniform(-3, 3, 5000)
Q = Rotation.random(50, random_state=1).as_matrix()  # off by round-off, as the head models' skinning leaves them
out = [exact.mm(M, R), exact.mm(R, R), exact.mm(M, R[0]), exact.lstsq(E, X), exact.exp(y), exact.power(np.abs(y), 0.7),
       exact.arctan2(y, y[::-1]), exact.rigid_inverse(np.eye(4) + 0.0), np.array(exact.norm(y)),
       np.stack([exact.orthonormalised(m) for m in Q + 1e-15 * rng.normal(size=Q.shape)])]
print(hashlib.sha256(b"".join(np.ascontiguousarray(o).tobytes() for o in out)).hexdigest())
"""


@needs_avx512
def test_an_avx2_host_gets_the_same_bits():
    """numpy's @, lstsq, exp, ** and arctan2 give other bits in the same process environment (checked by
    the first assertion: the emulation works); relhead.exact's do not."""
    numpy_own = DIGEST.replace("exact.mm(", "np.matmul(").replace("exact.lstsq(E, X)", "np.linalg.lstsq(E, X, rcond=None)[0]") \
        .replace("exact.exp(", "np.exp(").replace("exact.power(np.abs(y), 0.7)", "np.abs(y) ** 0.7") \
        .replace("exact.arctan2(", "np.arctan2(")

    def run(code, env=None):
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
        assert r.returncode == 0, r.stderr[-2000:]
        return r.stdout

    assert run(numpy_own, avx2_host_env()) != run(numpy_own)
    assert run(DIGEST, avx2_host_env()) == run(DIGEST)
