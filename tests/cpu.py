"""Another host's CPU on this one: the environment of a child process whose numpy, OpenBLAS, MKL and
torch compute as they would on an x86-64 host with AVX2 and without AVX-512 (tests/test_host.py compares
the corpus it makes with this host's)."""

import os

import pytest


def dispatched_cpu_features() -> list[str]:
    """The SIMD extensions above the x86-64 baseline that this host's numpy takes loops for."""
    try:
        from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
    except ImportError:  # numpy < 2
        from numpy.core._multiarray_umath import __cpu_dispatch__, __cpu_features__
    return [f for f in __cpu_dispatch__ if __cpu_features__.get(f)]


def native_env() -> dict:
    """This process' environment without MKL_CBWR (which conftest.py sets for the test process): a child
    process then computes as relhead itself arranges, as `relhead render` run from a shell would."""
    return {k: v for k, v in os.environ.items() if k != "MKL_CBWR"}


def avx2_host_env() -> dict:
    """The environment of a process that computes as a host with AVX2 and no AVX-512 would: numpy without
    its AVX-512 loops (their exp, log, arctan2, power and arccos differ from libm's in the last bit for a
    quarter of the arguments), OpenBLAS with Haswell's kernels, MKL with its AVX2 code path and torch's
    own kernels at AVX2."""
    return native_env() | {"NPY_DISABLE_CPU_FEATURES": " ".join(f for f in dispatched_cpu_features()
                                                               if f.startswith("AVX512")),
                         "OPENBLAS_CORETYPE": "Haswell", "MKL_ENABLE_INSTRUCTIONS": "AVX2",
                         "ATEN_CPU_CAPABILITY": "avx2"}


needs_avx512 = pytest.mark.skipif(not any(f.startswith("AVX512") for f in dispatched_cpu_features()),
                                  reason="no AVX-512 here: this host computes as an AVX2 host does")
