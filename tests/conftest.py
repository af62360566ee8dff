import os
import sys
from pathlib import Path

import pytest

# One Anny cache for the whole run (built on first use, ~1 min; later runs reuse it).
os.environ.setdefault("ANNY_CACHE_DIR", str(Path.home() / ".cache" / "anny"))
sys.path.insert(0, str(Path(__file__).parent))

import fake_head  # noqa: E402

fake_head.register()


@pytest.fixture(scope="session")
def head_model():
    from relhead.assets.registry import get_head_model

    return get_head_model()


@pytest.fixture(scope="session")
def fake_model():
    from relhead.assets.registry import get_head_model
    from relhead.config import resolve

    return get_head_model(resolve("test", ["head.model=fake"]).head)


@pytest.fixture(scope="session")
def test_cfg():
    from relhead.config import resolve

    return resolve("test")
