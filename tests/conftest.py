"""Shared fixtures: head models, and the configs (their `--set` lists in configs.py) and corpora
that tests read.

`fake_head` (an analytic head backend registered the way a third-party one would be) and
`synthetic` (corpora written without bpy) are importable because pyproject.toml puts tests/ on
pytest's `pythonpath`.
"""

import os
from pathlib import Path

import pytest

import configs
import fake_head
from relhead.config import resolve

# One Anny cache for the whole run (built on first use, ~1 min; later runs reuse it).
os.environ.setdefault("ANNY_CACHE_DIR", str(Path.home() / ".cache" / "anny"))
# MKL's same bits on every CPU (relhead.assets.base.same_bits_on_every_cpu) from its first call in this
# process: the corpora the tests make here must equal the ones their worker processes make, whatever ran
# torch before them.
os.environ.setdefault("MKL_CBWR", "COMPATIBLE")

fake_head.register()


# ------------------------------------------------------------------ head models
@pytest.fixture(scope="session")
def head_model():
    from relhead.assets.registry import get_head_model

    return get_head_model()


@pytest.fixture(scope="session")
def fake_model():
    from relhead.assets.registry import get_head_model

    return get_head_model(resolve("test", ["head.model=fake"]).head)


# ------------------------------------------------------------------ configs
@pytest.fixture(scope="session")
def test_cfg():
    """The `test` pipeline as shipped (Anny, 1 shard x 2 groups x 3 views at 160 px, Cycles 4 samples)."""
    return resolve("test")


@pytest.fixture(scope="session")
def spec_cfg():
    """The fake head, 4 views each with its own expression: scene specs (sampling only)."""
    return resolve("test", configs.SPEC)


@pytest.fixture(scope="session")
def synthetic_cfg():
    """The config of `synthetic_dir`."""
    return resolve("test", configs.SYNTHETIC)


@pytest.fixture(scope="session")
def small_cfg():
    """The config of `small_corpus`."""
    return resolve(configs.SMALL_PIPELINE, configs.SMALL)


@pytest.fixture(scope="session")
def train_cfg():
    """The config of `train_corpus`."""
    return resolve("test", configs.TRAIN)


@pytest.fixture(scope="session")
def fake_render_cfg():
    """The config of `fake_rendered`."""
    return resolve("test", configs.FAKE_RENDER)


# ------------------------------------------------------------------ corpora (read them, never change them)
@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory, synthetic_cfg):
    """A corpus of the fake head written without bpy (tests/synthetic.py; fast tier): its folder."""
    from synthetic import synthetic_corpus

    return synthetic_corpus(synthetic_cfg, tmp_path_factory.mktemp("synthetic") / "test")


@pytest.fixture(scope="session")
def train_corpus(tmp_path_factory, train_cfg):
    """The training tests' corpus of the fake head, written without bpy (fast tier): its folder."""
    from synthetic import synthetic_corpus

    return synthetic_corpus(train_cfg, tmp_path_factory.mktemp("train") / "fake")


@pytest.fixture(scope="session")
def train_slow_corpus(tmp_path_factory):
    """The slow training tests' larger corpus of the fake head, written without bpy: its folder."""
    from synthetic import synthetic_corpus

    return synthetic_corpus(resolve("test", configs.TRAIN_SLOW), tmp_path_factory.mktemp("train-slow") / "fake")


def _rendered(cfg, out):
    """(folder, groups) of the corpus of `cfg` rendered into `out` (slow tier)."""
    from relhead.datasets.generate import generate
    from relhead.datasets.shards import iter_groups

    generate(cfg, out, log=lambda *_: None)
    return out, list(iter_groups(sorted(out.glob("shard-*.tar"))))


@pytest.fixture(scope="session")
def rendered(tmp_path_factory, test_cfg, head_model):
    """The `test` pipeline rendered with Anny: (folder, groups)."""
    return _rendered(test_cfg, tmp_path_factory.mktemp("rendered") / "test")


@pytest.fixture(scope="session")
def fake_rendered(tmp_path_factory, fake_render_cfg):
    """The fake head rendered through the real pipeline: (folder, groups)."""
    return _rendered(fake_render_cfg, tmp_path_factory.mktemp("fake-rendered") / "test")


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory, small_cfg):
    """`small_cfg` rendered by one process, uninterrupted: its folder (the reference the corpus
    machinery's other ways of making it must equal). This process runs numpy and torch on 3 threads,
    so the workers that remake it (1 thread each) differ from it in thread count on any host."""
    import torch
    from threadpoolctl import threadpool_limits

    n = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        with threadpool_limits(limits=3):
            return _rendered(small_cfg, tmp_path_factory.mktemp("small") / small_cfg.name)[0]
    finally:
        torch.set_num_threads(n)


# ------------------------------------------------------------------ torch
@pytest.fixture
def one_thread():
    """Toy models and small convolutions are all overhead: one intra-op thread is faster, and steady
    when the cores are busy (test modules that train use it for every test)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
